"""The interfaces people expect (issue 6): OpenAI-style client, gpt4free compatibility,
conversations, notebooks, batches, site detection, health checks."""

import json
import os
import subprocess
import sys

import pytest

import chatgpt_providers
from chatgpt_providers import (
    AIEngine,
    AIPower,
    Answer,
    BlockedError,
    ChatCompletion,
    Chatgpt4Online,
    ChatGptt,
    Client,
    RateLimitError,
    RejectedError,
    RetryProvider,
    UnsupportedSiteError,
    connect,
    detect,
)
from chatgpt_providers.interfaces.batch import RateGate
from chatgpt_providers.testing import LocalSite

PROVIDERS = [Chatgpt4Online, ChatGptt]
CHAT_ROUTE = {Chatgpt4Online: "submit", ChatGptt: "ajax"}


def chat_requests(site, provider):
    return [r for r in site.requests if r.route == CHAT_ROUTE[provider]]


# -- the OpenAI-style client -------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_completion_shape(site, provider):
    client = Client(provider=provider(base_url=site.url))
    result = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}],
                                            temperature=0.2, max_tokens=50)
    assert result.choices[0].message.content == "Echo: Hi"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "gpt-4o" and result.provider == provider.__name__
    assert result.id.startswith("chatcmpl-") and isinstance(result.created, int)
    assert result.object == "chat.completion"
    if provider is Chatgpt4Online:  # AI Engine reports usage; the stand-in's figures
        assert result.usage.prompt_tokens == 1 and result.usage.total_tokens == 3
    else:  # AI Power reports none: never invented
        assert result.usage is None
    dumped = result.model_dump()
    assert dumped == result.to_dict()
    assert dumped["choices"][0]["message"]["content"] == "Echo: Hi"
    json.dumps(dumped)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_stream_chunks(site, provider):
    client = Client(provider=provider, base_url=site.url)
    chunks = list(client.chat.completions.create(model="x", messages="Hi there", stream=True))
    deltas = [c.choices[0].delta.content for c in chunks]
    assert "".join(deltas) == "Echo: Hi there" and len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].choices[0].delta.content == ""
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
    assert (chunks[-1].usage is not None) == (provider is Chatgpt4Online)


def test_client_accepts_instances_classes_names_and_retry_providers(site):
    assert Client(provider="chatgptt", base_url=site.url).provider.name == "ChatGptt"
    assert Client(provider="Chatgpt4Online", base_url=site.url).provider.name == "Chatgpt4Online"
    assert isinstance(Client().provider, RetryProvider)
    blocked = LocalSite().start()
    try:
        blocked.inject("cloudflare", count=50, target="any")
        failover = RetryProvider([ChatGptt(base_url=blocked.url, retries=0),
                                  Chatgpt4Online(base_url=site.url)])
        result = Client(provider=failover).chat.completions.create(model="m", messages="Hi")
        assert result.provider == "Chatgpt4Online"  # the one that answered
    finally:
        blocked.stop()
    with pytest.raises(ValueError, match="unknown provider"):
        Client(provider="gpt4free")
    with pytest.raises(ValueError, match="tools"):
        Client(provider="chatgptt").chat.completions.create(
            model="m", messages="Hi", tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(ValueError, match="n must be 1"):
        Client(provider="chatgptt").chat.completions.create(model="m", messages="Hi", n=2)
    with pytest.raises(ValueError, match="messages"):
        Client(provider="chatgptt").chat.completions.create(model="m", messages=[])


# -- gpt4free compatibility ------------------------------------------------------------------

def test_gpt4free_chat_completion_create(site):
    messages = [{"role": "user", "content": "Hi"}]
    answer = ChatCompletion.create("gpt-4o", messages, provider=ChatGptt, base_url=site.url)
    assert answer == "Echo: Hi" and type(answer) is str
    stream = ChatCompletion.create("gpt-4o", messages, provider=Chatgpt4Online, stream=True,
                                   proxy=None, base_url=site.url)
    assert "".join(stream) == "Echo: Hi"
    assert ChatCompletion.create("gpt-4", messages, provider="chatgptt", base_url=site.url) == "Echo: Hi"
    with pytest.raises(ValueError):
        ChatCompletion.create("gpt-4", [{"role": "bot", "content": "x"}], provider=ChatGptt)


def test_complete_returns_markdown_rendering_text(site):
    answer = ChatGptt(base_url=site.url).complete("**bold**")
    assert isinstance(answer, Answer) and isinstance(answer, str)
    assert answer == "Echo: **bold**" and answer._repr_markdown_() == "Echo: **bold**"


# -- conversations -------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_conversation_keeps_history_and_the_sites_ids(site, provider):
    chat = provider(base_url=site.url).conversation(system="Be brief.")
    assert chat.ask("Hi") == "Echo: Be brief.\n\nHi"
    second = chat.ask("And now?")
    assert second == "Echo: Be brief.\n\nAnd now? (history: 2 turns, last: Echo: Be brief.\n\nHi)" \
        or second.startswith("Echo: Be brief.\n\nAnd now? (history: 2 turns")
    streamed = "".join(chat.stream("Third"))
    assert "(history: 4 turns" in streamed
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant",
                                                  "user", "assistant"]
    sent = chat_requests(site, provider)
    if provider is Chatgpt4Online:
        ids = [r.json["chatId"] for r in sent]
        assert len(set(ids)) == 1 and ids[0] == chat.chat_id
        assert [len(r.json["messages"]) for r in sent] == [0, 2, 4]
    else:
        ids = [r.form["wpaicg_chat_client_id"] for r in sent]
        assert len(set(ids)) == 1 and len(ids[0]) == 10
        assert [len(json.loads(r.form["wpaicg_chat_history"])) for r in sent] == [0, 2, 4]
    first_id = chat.chat_id
    chat.reset()
    assert chat.messages == [{"role": "system", "content": "Be brief."}]
    assert chat.chat_id != first_id
    assert chat.ask("Fresh") == "Echo: Be brief.\n\nFresh"


def test_a_failed_or_abandoned_turn_is_not_remembered(site):
    chat = ChatGptt(base_url=site.url, retries=0).conversation()
    chat.ask("One")
    site.inject("banned_word")
    with pytest.raises(RejectedError):
        chat.ask("Bad words")
    stream = chat.stream("one two three four")
    next(stream)
    stream.close()
    assert [m["content"] for m in chat.messages] == ["One", "Echo: One"]
    with pytest.raises(ValueError):
        chat.ask("   ")


def test_conversation_over_a_retry_provider(site):
    chat = RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url).conversation()
    chat.ask("Hi")
    assert "(history: 2 turns" in chat.ask("Again")


# -- notebooks -------------------------------------------------------------------------------

def test_display_stream_prints_outside_a_notebook(site, capsys):
    answer = ChatGptt(base_url=site.url).display_stream("Hi there")
    assert answer == "Echo: Hi there"
    assert capsys.readouterr().out == "Echo: Hi there\n"


def test_display_stream_updates_one_output_in_a_kernel(site, monkeypatch):
    import IPython.display

    from chatgpt_providers.interfaces import notebook

    updates = []

    class Handle:
        def update(self, obj, raw=False):
            assert raw
            updates.append(obj)

    shown = []
    monkeypatch.setattr(notebook, "in_notebook", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False, display_id=False: shown.append(obj) or Handle())
    answer = Chatgpt4Online(base_url=site.url).conversation().display_stream("one two three")
    assert shown == [{"text/markdown": "", "text/plain": ""}]  # one output, then updated in place
    assert updates[-1] == {"text/markdown": "Echo: one two three", "text/plain": "Echo: one two three"}
    assert answer == "Echo: one two three"
    answer._ipython_display_()  # already on screen: not shown a second time


NOTEBOOK = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "quickstart.ipynb")


def test_example_notebook_runs():
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed: pip install -e '.[test]'")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no python3 Jupyter kernel installed (pip install ipykernel)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    markdown = [out["data"]["text/markdown"] for cell in notebook.cells if cell.cell_type == "code"
                for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {})]
    assert any("Echo: What is WordPress?" in text for text in markdown)
    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))
    assert "(history: 2 turns" in text
    assert "LangChain: Echo: Be brief.\n\nWhat is LangChain? - Chatgpt4Online" in text
    assert "Echo: Stream this from LangChain" in text


# -- batches ---------------------------------------------------------------------------------

def test_batch_keeps_order_and_holds_per_item_errors(site, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain counter
    bot = ChatGptt(base_url=site.url, retries=0)
    bot.complete("warm up")
    site.inject("banned_word", count=1)
    prompts = [f"prompt {i}" for i in range(12)] + [[{"role": "bot", "content": "x"}]]
    results = bot.batch(prompts, workers=4, progress=True)
    assert len(results) == 13
    errors_ = [r for r in results if isinstance(r, Exception)]
    assert len(errors_) == 2
    assert sum(isinstance(r, RejectedError) for r in results) == 1
    assert isinstance(results[-1], ValueError)
    for index, result in enumerate(results[:-1]):
        if not isinstance(result, Exception):
            assert result == f"Echo: prompt {index}"
    assert "batch: 13/13 (2 failed)" in capsys.readouterr().err


def test_batch_with_tqdm_and_a_rate_limit(site, capsys):
    pytest.importorskip("tqdm")
    bot = Chatgpt4Online(base_url=site.url, retries=0)
    site.inject("rate_limit", count=1, retry_after=0.2)
    results = bot.batch([f"p{i}" for i in range(6)], workers=3, progress=True)
    assert sum(isinstance(r, RateLimitError) for r in results) == 1
    assert [r for r in results if not isinstance(r, Exception)] == \
        [f"Echo: p{i}" for i in range(6) if not isinstance(results[i], Exception)]
    assert "batch" in capsys.readouterr().err  # tqdm's bar
    with pytest.raises(ValueError, match="workers"):
        bot.batch(["x"], workers=0)


def test_rate_gate_halves_pauses_and_recovers():
    now = [100.0]
    gate = RateGate(8, clock=lambda: now[0], recover_after=2)
    gate.slow_down(5)
    assert (gate.allowed, gate.paused_until) == (4, 105.0)
    gate.slow_down(None)
    assert gate.allowed == 2 and gate.paused_until == 105.0
    now[0] = 106.0
    with gate:
        assert gate.active == 1
    gate.succeeded()
    gate.succeeded()
    assert gate.allowed == 3


# -- detection and health ---------------------------------------------------------------------

def test_detection_and_connect():
    with LocalSite() as site:  # a page with both plugins
        found = detect(site.url + "/")
        assert found.plugin == "AI Engine" and "also has AI Power" in found.detail
        site.clear_log()
        bot = connect(site.url + "/")
        assert isinstance(bot, AIEngine) and bot.complete("Hi") == "Echo: Hi"
        assert site.routes() == ["page", "session", "submit"]  # the detection page is reused
        assert isinstance(connect(site.url, prefer="AI Power"), AIPower)
    with LocalSite(plugins=("ai-power",)) as site:
        bot = connect(site.url + "/chat/")
        assert isinstance(bot, AIPower) and bot.page_url == site.url + "/chat/"
        assert bot.complete("Hi") == "Echo: Hi"
        assert site.routes() == ["page", "ajax"]  # the detection page is reused for the nonce


@pytest.mark.parametrize("options, words", [
    ({"plugins": ()}, "no AI Engine or AI Power chatbot"),
])
def test_connect_says_clearly_when_nothing_is_supported(options, words):
    with LocalSite(**options) as site, pytest.raises(UnsupportedSiteError,
                                                       match=words.replace("+", r"\+")):
        connect(site.url)


def test_detection_behind_cloudflare():
    with LocalSite() as site:
        site.inject("cloudflare", target="page")
        with pytest.raises(BlockedError):
            detect(site.url)
    with pytest.raises(ValueError, match="http"):
        detect("site.example/chat")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "chatgpt_providers", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_detect():
    with LocalSite(plugins=("ai-power",)) as site:
        done = run_cli("detect", site.url + "/chat/")
        assert done.returncode == 0 and "AI Power" in done.stdout and "AIPower(" in done.stdout
    with LocalSite(plugins=()) as site:
        done = run_cli("detect", site.url)
        assert done.returncode == 1 and "no AI Engine or AI Power chatbot" in done.stdout


def test_cli_check_healthy_and_broken_sites():
    with LocalSite() as site:
        done = run_cli("check", "--base-url", site.url)
        assert done.returncode == 0, done.stdout + done.stderr
        header, row = done.stdout.strip().splitlines()
        assert header.split()[:3] == ["site", "provider", "reachable"]
        assert "AI Engine" in row and row.rstrip().endswith("ok") and " ms " in row
    with LocalSite(plugins=()) as site:
        done = run_cli("check", "--base-url", site.url)
        assert done.returncode == 1 and "plugin missing" in done.stdout
    with LocalSite() as site:
        site.inject("cloudflare", count=5, target="any")
        done = run_cli("check", "--base-url", site.url)
        assert done.returncode == 1 and "Cloudflare" in done.stdout


def test_health_checks_of_preset_clients():
    from chatgpt_providers.interfaces.health import check

    with LocalSite() as site:
        assert check(ChatGptt(base_url=site.url)).ok
        site.inject("expired_nonce", count=2)
        health = check(ChatGptt(base_url=site.url))
        assert (health.nonce, health.diagnosis) == (True, "nonce refused even after a refresh")
        site.inject("http_500", count=3)
        assert "ServerError" in check(Chatgpt4Online(base_url=site.url, retries=0)).diagnosis
    with LocalSite(plugins=("ai-engine",)) as site:
        assert check(ChatGptt(base_url=site.url)).diagnosis.startswith("the page runs AI Engine")


def test_optional_parts_load_only_when_used():
    lazy = ("interfaces.openai_style", "interfaces.detection", "interfaces.batch",
            "interfaces.conversation", "testing")
    names = tuple(f"chatgpt_providers.{name}" for name in lazy)
    code = (f"import sys, chatgpt_providers as c; before = [m for m in {names!r} if m in sys.modules]; "
            "c.Client; c.connect; print(before, 'chatgpt_providers.interfaces.openai_style' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] True"
    assert {"Client", "connect", "ChatCompletion"} <= set(dir(chatgpt_providers))
