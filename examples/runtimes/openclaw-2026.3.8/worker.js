// A stand-in for the OpenClaw edge runtime bundle: the Worker's main module.
// getbot uploads it with IDENTITY.md (the agent's system prompt) as a text
// module, and the agent's settings and keys as secrets in env.
import identity from "./IDENTITY.md";

export default {
	async fetch(request, env) {
		const url = new URL(request.url);
		if (url.pathname === "/health")
			return new Response("ok\n");
		const auth = request.headers.get("Authorization") || "";
		if (auth !== `Bearer ${env.GETBOT_HUB_TOKEN}`)
			return new Response("unauthorized\n", { status: 401 });
		return Response.json({
			model: env.GETBOT_MODEL,
			keep_alive: env.GETBOT_KEEP_ALIVE === "true",
			identity_bytes: identity.length,
		});
	},
};
