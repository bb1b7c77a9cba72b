// GetAll as an async iterable of items, with a resumable cursor.
import type { ClientReadableStream } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { GetAllResponse } from "./gen/bitrix24/v1/bitrix24";
import { toClientError } from "./errors";

/**
 * The items of one GetAll export. Iterate it once with `for await`; breaking out of the
 * loop (or cancel()) ends the stream. The gRPC stream is read only as fast as the loop
 * consumes items: while the loop body awaits, at most a few messages are buffered and the
 * gateway stops fetching pages (HTTP/2 flow control).
 */
export class GetAllStream<T = any> implements AsyncIterable<T> {
  /**
   * Where to resume: pass it as `getAll(..., { cursor })` to continue after every item
   * yielded so far. It is updated when the last item of a message is yielded, so items of a
   * partly consumed message may come again after a resume, and none is lost. "" until the
   * first message with a cursor (then a resume starts from the beginning, or from the cursor
   * this stream was started with).
   */
  cursor: string;
  /** Items the gateway has sent in this stream so far (from the latest message received). */
  itemsSent = 0;
  /** HTTP requests the gateway has sent to the portal for this stream so far (not counted across a resume). */
  httpRequests = 0;

  private call?: ClientReadableStream<GetAllResponse>;
  private started = false;
  private cancelled = false;

  /** @internal */
  constructor(
    private readonly start: () => ClientReadableStream<GetAllResponse>,
    cursor: string,
  ) {
    this.cursor = cursor;
  }

  /** Ends the stream; a pending or later iteration step ends without an error. */
  cancel(): void {
    this.cancelled = true;
    this.call?.cancel();
  }

  /** True after cancel() (or after the loop consuming the stream broke off). */
  get isCancelled(): boolean {
    return this.cancelled;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.started) throw new Error("a GetAllStream can be iterated only once; call getAll() again");
    this.started = true;
    return this.items();
  }

  private async *items(): AsyncGenerator<T, void, undefined> {
    if (this.cancelled) return;
    const call = this.start();
    this.call = call;
    // The Readable's iterator listens for errors while it runs; once the loop broke off,
    // the CANCELLED status that cancel() causes must not become an unhandled 'error'.
    call.on("error", () => {});
    let finished = false;
    try {
      // The Readable's async iterator pulls one message at a time: grpc-js reads the next
      // message from HTTP/2 only when its small object buffer has room (flow control).
      for await (const message of call as AsyncIterable<GetAllResponse>) {
        this.itemsSent = message.itemsSent;
        this.httpRequests = message.httpRequests;
        const items = message.itemsJson;
        const last = items.length - 1;
        if (last < 0 && message.cursor) this.cursor = message.cursor;
        for (let i = 0; i <= last; i++) {
          const item = JSON.parse(items[i].toString("utf8")) as T;
          // The message's cursor covers all its items: publish it with the last one, so a
          // consumer that saves .cursor after handling each item never skips one.
          if (i === last && message.cursor) this.cursor = message.cursor;
          yield item;
          if (this.cancelled) return;
        }
      }
      finished = true;
    } catch (err) {
      if (this.cancelled && (err as { code?: number }).code === GrpcStatus.CANCELLED) return;
      throw toClientError(err);
    } finally {
      if (!finished) {
        this.cancelled = true;
        call.cancel();
      }
    }
  }
}
