/**
 * A small typed client of the MyBitcoinFuture API, as a frontend would write it: every request and
 * result is typed by GraphQL Code Generator from schema.graphql (src/generated/graphql.ts), so a
 * renamed field or a changed type fails `tsc`, not the user.
 *
 * Run: node dist/client.js   (env MBF_URL=http://127.0.0.1:8000, MBF_DESCRIPTOR=<wallet descriptor>)
 * It signs up, imports the wallet, waits for its first sync, prints the dashboard, subscribes to
 * transactionReceived over graphql-ws (graphql-transport-ws), prints {"ready": ..., "address": ...},
 * then waits for a line on stdin (the payment was sent), asks for a sync, and prints the typed
 * payment event it receives as one JSON line before exiting.
 */
import { createInterface } from "node:readline";

import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

import type {
  DashboardQuery,
  ImportWalletMutation,
  ImportWalletMutationVariables,
  NextAddressMutation,
  NextAddressMutationVariables,
  PaymentsSubscription,
  PaymentsSubscriptionVariables,
  RegisterMutation,
  RegisterMutationVariables,
  SyncWalletMutation,
  SyncWalletMutationVariables,
  WalletStatusQuery,
  WalletStatusQueryVariables,
} from "./generated/graphql.js";
import { documents } from "./documents.js";

const base = process.env.MBF_URL ?? "http://127.0.0.1:8000";
const descriptor = process.env.MBF_DESCRIPTOR ?? "";

type GraphQLError = { message: string; extensions?: { code?: string; field?: string } };

/** One typed request over HTTP; GraphQL errors become an exception naming their codes. */
async function request<TData, TVars>(query: string, variables: TVars, token?: string): Promise<TData> {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: TData; errors?: GraphQLError[] };
  if (body.errors?.length || !body.data) {
    const codes = (body.errors ?? []).map((e) => `${e.extensions?.code}: ${e.message}`).join("; ");
    throw new Error(`GraphQL error (${response.status}): ${codes}`);
  }
  return body.data;
}

/** The first `next` of a typed subscription (graphql-ws over the graphql-transport-ws protocol). */
function firstEvent<TData, TVars extends Record<string, unknown>>(
  client: Client,
  query: string,
  variables: TVars,
  onStarted: () => void,
): Promise<TData> {
  return new Promise((resolve, reject) => {
    let started = false;
    const stop = client.subscribe<TData>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors?.length) reject(new Error(JSON.stringify(result.errors)));
          else if (result.data) {
            stop();
            resolve(result.data as TData);
          }
        },
        error: reject,
        complete: () => reject(new Error("subscription completed without an event")),
      },
    );
    client.on("connected", () => {
      if (!started) {
        started = true;
        onStarted(); // the caller waits for the server to register the subscription (its /readyz)
      }
    });
  });
}

async function main(): Promise<void> {
  const email = `typed-${Date.now()}@example.com`;
  const signUp = await request<RegisterMutation, RegisterMutationVariables>(documents.register, {
    input: { email, password: "correct horse battery staple" },
  });
  const token: string = signUp.register.token;

  const imported = await request<ImportWalletMutation, ImportWalletMutationVariables>(
    documents.importWallet,
    { input: { name: "Typed client", source: descriptor, network: "REGTEST" } },
    token,
  );
  const walletId: string = imported.importWallet.id;
  for (let i = 0; ; i++) {
    const status = await request<WalletStatusQuery, WalletStatusQueryVariables>(documents.walletStatus, { id: walletId }, token);
    if (status.wallet.syncStatus === "SYNCED") break;
    if (status.wallet.syncStatus === "ERROR" || i > 600) throw new Error(`first sync: ${status.wallet.syncStatus}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const dashboard = await request<DashboardQuery, Record<string, never>>(documents.dashboard, {}, token);
  const wallets = dashboard.wallets.edges.map(({ node }) => ({
    id: node.id,
    name: node.name,
    syncStatus: node.syncStatus,
    totalSats: node.balance.total, // Sats: a number, exact
    latest: node.transactions.edges.map((e) => ({ txid: e.node.txid, netAmount: e.node.netAmount, direction: e.node.direction })),
    txCount: node.transactions.totalCount,
  }));

  const address = (
    await request<NextAddressMutation, NextAddressMutationVariables>(documents.nextAddress, { walletId }, token)
  ).nextReceiveAddress.address;

  const ws = createClient({
    url: base.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
  });
  const payment = firstEvent<PaymentsSubscription, PaymentsSubscriptionVariables>(
    ws,
    documents.payments,
    { walletId },
    () => console.log(JSON.stringify({ ready: true, viewer: dashboard.viewer?.email, wallets, address, token })),
  );

  // The test sends the payment on the chain, then writes a line: ask for a sync now.
  const lines = createInterface({ input: process.stdin });
  lines.once("line", () => {
    void request<SyncWalletMutation, SyncWalletMutationVariables>(documents.syncWallet, { id: walletId }, token);
  });

  const event = (await payment).transactionReceived;
  const tx = event.transaction;
  const incoming: boolean = tx.direction === "INCOMING" && tx.netAmount > 0;
  console.log(
    JSON.stringify({
      event: {
        id: event.id,
        historical: event.historical,
        txid: tx.txid,
        netAmount: tx.netAmount,
        direction: tx.direction,
        status: tx.status,
        wallet: event.wallet.name,
        walletTotal: event.wallet.balance.total,
        toast: incoming && !event.historical,
      },
    }),
  );
  lines.close();
  await ws.dispose();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
