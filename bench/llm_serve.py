"""Sovereign's `sov serve` against llama.cpp's own llama-server, side by side in one run.

Same GGUF, same threads, same context, same prompts, greedy decoding with a fixed number of
generated tokens (ignore_eos), one request at a time, the two servers interleaved request by
request. Measured from the client over HTTP/SSE on loopback, the same way for both:
  TTFT        request sent -> first streamed token
  prompt t/s  prompt tokens / TTFT (prompt processing dominates TTFT)
  gen t/s     (generated tokens - 1) / (last token - first token)
and the servers' own `timings` (llama-server's field names, which sov serve reproduces).

Usage: python3 llm_serve.py --sov URL --llama URL --sov-pid PID --llama-pid PID [--runs N]
"""
import argparse
import http.client
import json
import statistics
import time
import urllib.parse

PARAGRAPH = (
    "The harbour woke before the town did. Fishing boats nudged their moorings, gulls argued over "
    "the night's scraps, and the tide, indifferent to all of it, kept its own slow appointment with "
    "the shore. "
)


def stream_completion(base, prompt, n_predict):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    body = json.dumps({
        "model": "bench", "prompt": prompt, "max_tokens": n_predict, "temperature": 0,
        "ignore_eos": True, "stream": True,
    })
    started = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"{base}: HTTP {response.status}: {response.read()[:500]!r}")
    stamps, text, timings = [], [], None
    while True:
        line = response.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        piece = chunk["choices"][0].get("text") if chunk.get("choices") else None
        if piece:
            stamps.append(time.perf_counter())
            text.append(piece)
        if chunk.get("timings"):
            timings = chunk["timings"]
    conn.close()
    return started, stamps, "".join(text), timings


def rss_mib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kib = lambda k: int(fields[k].split()[0]) / 1024
    return kib("VmRSS"), kib("VmHWM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sov", required=True)
    ap.add_argument("--llama", required=True)
    ap.add_argument("--sov-pid", type=int, required=True)
    ap.add_argument("--llama-pid", type=int, required=True)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--prompt-paragraphs", type=int, default=12)
    ap.add_argument("--n-predict", type=int, default=128)
    ap.add_argument("--short-runs", type=int, default=40)
    args = ap.parse_args()

    servers = {"sov serve": args.sov, "llama-server": args.llama}
    results = {name: {"ttft": [], "pp": [], "gen": [], "srv_pp": [], "srv_gen": [], "text": set()} for name in servers}
    # Warm-up: load pages, let both allocate their buffers.
    for base in servers.values():
        stream_completion(base, "Warm up. " + PARAGRAPH, 8)
    for run in range(args.runs):
        # A different first line each run, so neither server can reuse a cached prompt prefix.
        prompt = f"Story {run}-{time.time_ns()}.\n" + PARAGRAPH * args.prompt_paragraphs
        order = list(servers.items()) if run % 2 == 0 else list(reversed(servers.items()))
        for name, base in order:
            started, stamps, text, timings = stream_completion(base, prompt, args.n_predict)
            r = results[name]
            ttft = stamps[0] - started
            r["ttft"].append(ttft * 1e3)
            if timings:
                r["pp"].append(timings["prompt_n"] / ttft)
                r["srv_pp"].append(timings.get("prompt_per_second", 0))
                r["srv_gen"].append(timings.get("predicted_per_second", 0))
            r["gen"].append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
            r["text"].add(text[:80])

    # Time to first token on a short prompt, where prompt processing is small and what remains is
    # each server's own overhead: HTTP, queueing, tokenising, scheduling, streaming.
    short = {name: [] for name in servers}
    for run in range(args.short_runs):
        prompt = f"Note {run}-{time.time_ns()}: the tide is"
        order = list(servers.items()) if run % 2 == 0 else list(reversed(servers.items()))
        for name, base in order:
            started, stamps, _, _ = stream_completion(base, prompt, 1)
            short[name].append((stamps[0] - started) * 1e3)

    med = statistics.median
    print(f"{'':14} {'TTFT ms':>9} {'prompt t/s':>11} {'gen t/s':>9} {'srv prompt t/s':>15} {'srv gen t/s':>12} {'RSS MiB':>8} {'peak MiB':>9}")
    rows = {}
    for name, r in results.items():
        pid = args.sov_pid if name == "sov serve" else args.llama_pid
        rss, hwm = rss_mib(pid)
        rows[name] = {k: med(v) for k, v in r.items() if k != "text" and v}
        rows[name]["rss"], rows[name]["hwm"] = rss, hwm
        row = rows[name]
        print(f"{name:14} {row['ttft']:9.1f} {row.get('pp', 0):11.1f} {row['gen']:9.1f} {row.get('srv_pp', 0):15.1f} {row.get('srv_gen', 0):12.1f} {rss:8.0f} {hwm:9.0f}")
    s, l = rows["sov serve"], rows["llama-server"]
    print()
    print(f"generation t/s ratio  sov/llama-server = {s['gen'] / l['gen']:.3f}   (goal >= 1.00)")
    print(f"prompt t/s ratio      sov/llama-server = {s['pp'] / l['pp']:.3f}")
    print(f"TTFT, long prompt     sov - llama-server = {s['ttft'] - l['ttft']:+.2f} ms   (prompt processing noise included)")
    short_sov, short_llama = med(short["sov serve"]), med(short["llama-server"])
    print(f"TTFT, short prompt    sov {short_sov:.2f} ms, llama-server {short_llama:.2f} ms: overhead {short_sov - short_llama:+.2f} ms   (goal <= 2 ms; median of {args.short_runs})")
    print(f"resident memory       sov/llama-server = {s['rss'] / l['rss']:.3f}  ({s['rss']:.0f} vs {l['rss']:.0f} MiB)")
    pairs = sorted(a / b for a, b in zip(results["sov serve"]["gen"], results["llama-server"]["gen"]))
    q = statistics.quantiles(pairs, n=4) if len(pairs) >= 4 else [pairs[0], med(pairs), pairs[-1]]
    print(f"generation ratio per request pair: median {med(pairs):.3f}, quartiles {q[0]:.3f}..{q[2]:.3f}, range {pairs[0]:.3f}..{pairs[-1]:.3f}")
    same = results["sov serve"]["text"] == results["llama-server"]["text"]
    print(f"greedy output identical across servers: {same}")


if __name__ == "__main__":
    main()
