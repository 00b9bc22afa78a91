// Reads ?api=<http origin of the API>&token=<bearer>&wallet=<id> and reports into window.__result:
//   fetch:   the /graphql answer (or the error a refused CORS request raises)
//   events:  what the subscription received;  wsError: why the socket failed, if it did
// window.__subscribed turns true once subscribe() was called; window.__done once there is an outcome.
(async () => {
  const params = new URLSearchParams(location.search);
  const api = params.get("api");
  const token = params.get("token");
  const wallet = params.get("wallet");
  const result = { origin: location.origin, fetch: null, fetchError: null, events: [], wsError: null };
  window.__result = result;
  const done = () => { window.__done = true; };

  try {
    const resp = await fetch(api + "/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ query: "{ viewer { email } }" }),
    });
    result.fetch = { status: resp.status, body: await resp.json(), requestId: resp.headers.get("x-request-id") };
  } catch (err) {
    result.fetchError = String(err);
  }

  const client = graphqlWs.createClient({
    url: api.replace(/^http/, "ws") + "/graphql",
    connectionParams: { authorization: "Bearer " + token },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: (err) => { result.wsError = describe(err); done(); },
  });
  result.trace = [];
  for (const name of ["connecting", "opened", "connected", "ping", "pong", "message", "error"]) {
    client.on(name, (arg) => result.trace.push([Date.now(), name, name === "message" ? arg : undefined]));
  }
  client.on("closed", (ev) => { if (!result.events.length) { result.wsError = describe(ev); done(); } });
  client.subscribe(
    { query: "subscription($w: ID!) { walletUpdated(walletId: $w) { __typename } }", variables: { w: wallet } },
    {
      next: (msg) => { result.events.push(msg); done(); client.dispose(); },
      error: (err) => { result.wsError = describe(err); done(); },
      complete: () => {},
    },
  );
  window.__subscribed = true;

  function describe(err) {
    if (err && typeof err.code === "number") return "closed " + err.code + (err.reason ? " " + err.reason : "");
    return String(err && err.message ? err.message : err);
  }
})();
