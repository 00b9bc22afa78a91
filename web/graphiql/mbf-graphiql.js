/* MyBitcoinFuture GraphiQL bootstrap: served by this server with React, ReactDOM and GraphiQL's UMD builds
 * (no CDN). The bearer token lives in localStorage and is sent as `Authorization: Bearer <token>` over HTTP
 * and as the `connection_init` payload `{"authorization": "Bearer <token>"}` over the WebSocket
 * (graphql-transport-ws, same path as the HTTP endpoint). */
(function () {
  "use strict";

  var TOKEN_KEY = "mbf.graphiql.token";
  var meta = document.querySelector('meta[name="mbf-graphql-endpoint"]');
  var httpUrl = new URL((meta && meta.content) || "/graphql", window.location.href);
  httpUrl.search = "";
  httpUrl.hash = "";
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  var DEFAULT_QUERY = [
    "# MyBitcoinFuture GraphQL API",
    "#",
    "# 1. Sign in (or register); the returned token is",
    "#    filled into the box above.",
    "# 2. Press \"Use token\": it is kept in this browser",
    "#    and sent with every query, mutation and",
    "#    subscription.",
    "#",
    "# mutation Login {",
    "#   login(input: {email: \"you@example.com\",",
    "#                 password: \"your password\"}) {",
    "#     token",
    "#     expiresAt",
    "#   }",
    "# }",
    "#",
    "# subscription Live { events { __typename id occurredAt ... on TransactionEvent { historical transaction { txid netAmount } } } }",
    "",
    "query Me {",
    "  viewer {",
    "    id",
    "    email",
    "    role",
    "  }",
    "}",
    ""
  ].join("\n");

  var tokenInput = document.getElementById("mbf-token");
  var statusEl = document.getElementById("mbf-status");

  function readToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function writeToken(token) {
    try {
      if (token) {
        window.localStorage.setItem(TOKEN_KEY, token);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      /* storage disabled: the token still applies to this page */
    }
  }

  function normalise(raw) {
    return (raw || "").trim().replace(/^bearer\s+/i, "");
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = kind || "";
  }

  var currentToken = readToken();

  function operationOf(params, opts) {
    var doc = opts && opts.documentAST;
    if (!doc || !doc.definitions) {
      return null;
    }
    var ops = doc.definitions.filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    var name = params && params.operationName;
    for (var i = 0; i < ops.length; i++) {
      if (!name || (ops[i].name && ops[i].name.value === name)) {
        return ops[i].operation;
      }
    }
    return ops.length ? ops[0].operation : null;
  }

  function inspectMutationResult(result) {
    var data = result && result.data;
    if (!data) {
      return;
    }
    ["login", "register"].forEach(function (field) {
      var payload = data[field];
      if (payload && typeof payload.token === "string" && payload.token) {
        tokenInput.value = payload.token;
        setStatus("token received from " + field + ": press \u201cUse token\u201d to send it", "");
      }
    });
    if (data.logout === true && currentToken) {
      applyToken("");
      setStatus("signed out: token forgotten", "");
    }
  }

  function makeFetcher(token) {
    var options = {
      url: httpUrl.href,
      subscriptionUrl: wsUrl.href,
      enableIncrementalDelivery: false
    };
    if (token) {
      options.headers = { Authorization: "Bearer " + token };
      options.wsConnectionParams = { authorization: "Bearer " + token };
    }
    var fetcher = GraphiQL.createFetcher(options);
    return function (params, opts) {
      var result = fetcher(params, opts);
      if (operationOf(params, opts) === "mutation" && result && typeof result.then === "function") {
        return result.then(function (value) {
          inspectMutationResult(value);
          return value;
        });
      }
      return result;
    };
  }

  function checkToken(token) {
    if (!token) {
      setStatus("anonymous: public fields only", "");
      return;
    }
    setStatus("checking token\u2026", "");
    window
      .fetch(httpUrl.href, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify({ query: "query MbfViewer { viewer { email role } }" })
      })
      .then(function (response) {
        if (response.status === 401) {
          setStatus("token rejected (unknown, expired or revoked): sign in again", "bad");
          return null;
        }
        return response.json();
      })
      .then(function (body) {
        if (!body) {
          return;
        }
        var viewer = body.data && body.data.viewer;
        if (viewer) {
          setStatus("signed in as " + viewer.email + " (" + String(viewer.role).toLowerCase() + ")", "ok");
        } else {
          setStatus("token not accepted", "bad");
        }
      })
      .catch(function () {
        setStatus("server unreachable", "bad");
      });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));

  function render() {
    root.render(
      React.createElement(GraphiQL, {
        fetcher: makeFetcher(currentToken),
        defaultQuery: DEFAULT_QUERY,
        shouldPersistHeaders: false
      })
    );
  }

  function applyToken(token) {
    currentToken = token;
    writeToken(token);
    tokenInput.value = token;
    render();
    checkToken(token);
  }

  document.getElementById("mbf-auth").addEventListener("submit", function (event) {
    event.preventDefault();
    applyToken(normalise(tokenInput.value));
  });
  document.getElementById("mbf-clear").addEventListener("click", function () {
    applyToken("");
  });

  tokenInput.value = currentToken;
  render();
  checkToken(currentToken);
})();
