/**
 * A Response whose body is a string in hand, for the replay's in-process
 * fetches (the exchange, the Redis REST protocol): the body methods answer it
 * directly instead of through a byte stream, which costs more than the rest of
 * an in-process request (tens of thousands of them per replay).
 */
const JSON_HEADERS = { "content-type": "application/json" };

export class TextResponse extends Response {
  readonly #body: string;
  override readonly text = async (): Promise<string> => this.#body;
  override readonly json = async (): Promise<unknown> => JSON.parse(this.#body);
  override readonly arrayBuffer = async (): Promise<ArrayBuffer> =>
    new TextEncoder().encode(this.#body).buffer as ArrayBuffer;

  constructor(body: string, status: number) {
    super(null, { status, headers: JSON_HEADERS });
    this.#body = body;
  }
}
