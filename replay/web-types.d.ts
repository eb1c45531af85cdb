/**
 * Web types lib/ names that @types/node declares only as values (CryptoKey) or
 * not at all: the Worker gets them from the workers types; the replay runs
 * lib/ in Node, where the values exist, and needs only the names.
 */
type CryptoKey = import("node:crypto").webcrypto.CryptoKey;
type HeadersInit = import("undici-types").HeadersInit;
type RequestInfo = import("undici-types").RequestInfo;
