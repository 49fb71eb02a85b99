// A stand-in for Azure OpenAI over TLS that speaks HTTP/2 (and HTTP/1.1 to clients that do not offer h2 by ALPN), for
// the benchmark's streams over HTTP/2 (bench/streams-h2.sh). Node's built-in http2 module, no dependencies:
//
//   node bench/h2mock.mjs --port 9443 --pfx bench-tls.p12 --passphrase changeit [--event-interval-ms 500] [--chunks 25]
//        [--max-streams 100] [--host 127.0.0.1]
//
// It answers as bench/MockAzure.java does: POST /openai/deployments/{d}/chat/completions gives a chat.completion with
// usage, or, with "stream":true in the body, an SSE stream: prompt-filter chunk, role chunk, --chunks content chunks
// --event-interval-ms apart (a request header x-bench-event-interval-ms sets another gap), finish chunk, the usage chunk
// (only with "include_usage":true) and [DONE], each event written as it is due. --max-streams is the
// SETTINGS_MAX_CONCURRENT_STREAMS it announces: a client opens another connection beyond it. GET /stats answers the
// counters as one line of JSON: requests and streams by protocol, events sent, TLS connections accepted and open.
// It prints "h2mock ready on port N" once listening, and "h2mock stats {...}" on SIGTERM.
import fs from 'node:fs';
import http2 from 'node:http2';

const options = {
  host: '127.0.0.1', port: 0, pfx: null, passphrase: '', 'event-interval-ms': 20, chunks: 25, 'max-streams': 100,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, '');
  if (!(name in options) || i + 1 >= argv.length) {
    console.error(`h2mock: unknown option or missing value: ${argv[i]}`);
    process.exit(2);
  }
  options[name] = argv[++i];
}
if (!options.pfx) {
  console.error('h2mock: --pfx FILE (a PKCS12 key store with the certificate) is required');
  process.exit(2);
}
const interval = Number(options['event-interval-ms']);
const chunks = Number(options.chunks);

const ID = 'chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012';
const MODEL = 'gpt-4o-2024-08-06';
const FILTER = '{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},'
  + '"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}';
const WORDS = ('The quick brown fox jumps over the lazy dog while the proxy counts every token that flows past it on the'
  + ' way to the client').split(' ');
const chunk = (filter, delta, finish) => Buffer.from(`data: {"choices":[{"content_filter_results":${filter},"delta":`
  + `${delta},"finish_reason":${finish},"index":0,"logprobs":null}],"created":1732500000,"id":"${ID}","model":"${MODEL}",`
  + '"object":"chat.completion.chunk","system_fingerprint":"fp_b705f0c291"}\n\n');
const HEAD = [
  Buffer.from('data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    + `[{"prompt_index":0,"content_filter_results":${FILTER}}]}\n\n`),
  chunk('{}', '{"content":"","refusal":null,"role":"assistant"}', 'null'),
];
const CONTENT = Array.from({ length: chunks }, (_, i) =>
  chunk(FILTER, `{"content":"${(i === 0 ? '' : ' ') + WORDS[i % WORDS.length]}"}`, 'null'));
const TAIL = chunk('{}', '{}', '"stop"');
const USAGE = Buffer.from(`data: {"choices":[],"created":1732500000,"id":"${ID}","model":"${MODEL}",`
  + '"object":"chat.completion.chunk","system_fingerprint":"fp_b705f0c291","usage":{'
  + `"completion_tokens":${chunks},"prompt_tokens":31,"total_tokens":${31 + chunks}}}\n\n`);
const DONE = Buffer.from('data: [DONE]\n\n');
const COMPLETION = Buffer.from('{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":'
  + '"Hello! The proxy in front of me forwarded your request, counted its tokens and logged the usage. How can I help'
  + ` you today?","refusal":null,"role":"assistant"}}],"created":1732500000,"id":"${ID}","model":"${MODEL}",`
  + `"object":"chat.completion","prompt_filter_results":[{"prompt_index":0,"content_filter_results":${FILTER}}],`
  + '"system_fingerprint":"fp_b705f0c291","usage":{"completion_tokens":27,"prompt_tokens":31,"total_tokens":58}}');

const stats = { requests_h2: 0, requests_h1: 0, streams_h2: 0, streams_h1: 0, events: 0, connections: 0, open: 0 };

const server = http2.createSecureServer({
  pfx: fs.readFileSync(options.pfx),
  passphrase: options.passphrase,
  allowHTTP1: true,
  // Thousands of streams share a session: Node's default of 10 MB per session would refuse new ones.
  maxSessionMemory: 1000,
  settings: { maxConcurrentStreams: Number(options['max-streams']) },
});
server.on('secureConnection', (socket) => {
  stats.connections++;
  stats.open++;
  socket.on('close', () => stats.open--);
});

server.on('request', (req, res) => {
  const h2 = req.httpVersionMajor === 2;
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats) + '\n');
    return;
  }
  const body = [];
  req.on('data', (b) => body.push(b));
  req.on('end', () => {
    if (h2) stats.requests_h2++; else stats.requests_h1++;
    const text = Buffer.concat(body).toString('utf8');
    if (req.method !== 'POST' || !/^\/openai\/deployments\/[^/]+\/chat\/completions/.test(req.url)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"404","message":"Resource not found"}}');
      return;
    }
    const headers = { 'x-ms-region': 'Sweden Central', 'apim-request-id': '8a0d7a7e-3b1c-4d2e-9f00-0123456789ab',
      'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-remaining-tokens': '999000' };
    if (!/"stream":\s?true/.test(text)) {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end(COMPLETION);
      return;
    }
    if (h2) stats.streams_h2++; else stats.streams_h1++;
    const gap = req.headers['x-bench-event-interval-ms'] === undefined
      ? interval : Number(req.headers['x-bench-event-interval-ms']);
    const usage = /"include_usage":\s?true/.test(text);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const emit = (event) => { res.write(event); stats.events++; };
    HEAD.forEach(emit);
    let next = 0;
    let timer = null;
    const tick = () => {
      if (res.destroyed || res.writableEnded) return;
      if (next < CONTENT.length) emit(CONTENT[next++]);
      if (next < CONTENT.length) {
        timer = setTimeout(tick, gap);
        return;
      }
      emit(TAIL);
      if (usage) emit(USAGE);
      emit(DONE);
      res.end();
    };
    res.on('close', () => clearTimeout(timer));
    if (CONTENT.length === 0) tick(); else timer = setTimeout(tick, gap);
  });
});

server.listen(Number(options.port), options.host, () => {
  console.log(`h2mock ready on port ${server.address().port}`);
});
// The counters once more at the end, for the bench's report.
process.on('SIGTERM', () => {
  console.log(`h2mock stats ${JSON.stringify(stats)}`);
  process.exit(0);
});
