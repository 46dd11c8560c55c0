"""The official `openai` and `anthropic` Python clients against a running `sov serve`.

Usage: python3 official_clients.py BASE_URL   (e.g. http://127.0.0.1:8080)
Exits non-zero, with the reason, if any client call fails or its result is malformed.
"""
import json
import sys

import anthropic
import openai

base = sys.argv[1].rstrip("/")
oa = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
question = [{"role": "user", "content": "Write one sentence about the sea."}]

whole = oa.chat.completions.create(model="smollm2", messages=question, seed=11, max_tokens=24)
text = whole.choices[0].message.content
assert text, whole
assert whole.usage.completion_tokens > 0, whole.usage

streamed = ""
finish = None
with oa.chat.completions.create(
    model="smollm2", messages=question, seed=11, max_tokens=24, stream=True,
    stream_options={"include_usage": True},
) as stream:
    for chunk in stream:
        if chunk.choices:
            streamed += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
assert streamed == text, (streamed, text)
assert finish in ("stop", "length"), finish

completion = oa.completions.create(model="smollm2", prompt="The sea is", max_tokens=8, temperature=0)
assert completion.choices[0].text, completion

embedded = oa.embeddings.create(model="smollm2", input=["first text", "second text"])
assert len(embedded.data) == 2 and len(embedded.data[0].embedding) > 0, embedded

models = [m.id for m in oa.models.list()]
assert "smollm2" in models, models

tool = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
called = oa.chat.completions.create(
    model="smollm2", messages=[{"role": "user", "content": "Weather in Paris?"}],
    tools=[tool], tool_choice="required", temperature=0, max_tokens=100)
call = called.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather", called
json.loads(call.function.arguments)

try:
    oa.chat.completions.create(model="smollm2", messages=question, temperature=-3)
    raise SystemExit("a negative temperature was accepted")
except openai.BadRequestError as e:
    assert "temperature" in str(e), e

an = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
message = an.messages.create(model="smollm2", max_tokens=24, messages=question, extra_body={"temperature": 0})
assert message.content[0].type == "text" and message.content[0].text, message
with an.messages.stream(model="smollm2", max_tokens=24, messages=question, extra_body={"temperature": 0}) as stream:
    streamed = "".join(stream.text_stream)
    final = stream.get_final_message()
assert streamed == message.content[0].text, (streamed, message.content[0].text)
assert final.stop_reason in ("end_turn", "max_tokens"), final

print("official clients: ok")
