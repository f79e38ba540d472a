/** One Server-Sent Events message (the fields Latchkey sends). */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/**
 * Reads a `text/event-stream` body (WHATWG HTML, "Server-sent events", the parsing rules) into
 * messages: comments dropped, `data` lines joined, a message with only an `id` still given (it
 * moves the position to resume from).
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let msg: SseMessage = {};
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (data.length > 0) msg.data = data.join('\n');
          if (msg.id !== undefined || msg.data !== undefined) yield msg;
          msg = {};
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? '' : line.slice(colon + 1);
        const v = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'id' && !v.includes('\0')) msg.id = v;
        else if (field === 'event') msg.event = v;
        else if (field === 'data') data.push(v);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
