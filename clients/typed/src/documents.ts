/**
 * The operations' text, read from src/operations.graphql: the same file GraphQL Code Generator
 * types, so the strings sent and the types checked cannot drift apart.
 */
import { readFileSync } from "node:fs";

import { Kind, parse, print } from "graphql";

const source = readFileSync(new URL("../src/operations.graphql", import.meta.url), "utf8");
const parsed = parse(source);

function operation(name: string): string {
  const found = parsed.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
  if (!found) throw new Error(`operation ${name} is not in operations.graphql`);
  return print(found);
}

export const documents = {
  register: operation("Register"),
  importWallet: operation("ImportWallet"),
  nextAddress: operation("NextAddress"),
  syncWallet: operation("SyncWallet"),
  walletStatus: operation("WalletStatus"),
  dashboard: operation("Dashboard"),
  payments: operation("Payments"),
} as const;
