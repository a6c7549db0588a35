"""The ``llm`` plugin, driven as users drive it: the real ``llm`` command in a subprocess,
its user directory in a temporary folder, against the stand-in."""

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("llm", reason="the llm plugin's tests need llm (pip install -e '.[test]')")

from chatgpt_providers.testing import LocalSite  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def user_dir(tmp_path):
    return tmp_path / "llm-user"


def llm_command(user_dir, *args, stdin="", timeout=60):
    env = dict(os.environ, LLM_USER_PATH=str(user_dir), PYTHONIOENCODING="utf-8")
    env.pop("LLM_RAISE_ERRORS", None)
    return subprocess.run([sys.executable, "-m", "llm", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, env=env)


def ok(done):
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def chat_requests(site):
    """The logged requests that carried a message (not the page or the session)."""
    return [r for r in site.requests if r.route in ("submit", "ajax")]


def test_models_lists_the_presets_with_their_options(user_dir):
    out = ok(llm_command(user_dir, "models"))
    assert "Chatgpt4Online: chatgpt4online" in out.splitlines()
    assert "ChatGptt: chatgptt" in out.splitlines()
    options = ok(llm_command(user_dir, "models", "--options", "-m", "chatgptt"))
    for name in ("base_url", "page", "bot_id"):
        assert f"{name}: str" in options


@pytest.mark.parametrize("provider, route", [("chatgptt", "ajax"), ("chatgpt4online", "submit")])
def test_a_prompt_is_answered_with_one_request(site, user_dir, provider, route):
    out = ok(llm_command(user_dir, "-m", provider, "-o", "base_url", site.url, "Hi there ünï"))
    assert out == "Echo: Hi there ünï\n"
    assert [r.route for r in chat_requests(site)] == [route]


def test_the_answer_streams_to_the_terminal(user_dir):
    """The first words are on stdout while the site still holds the rest back."""
    with LocalSite(delay=0) as site:
        site.inject("stall", seconds=60)  # half the words, then nothing until the site stops
        env = dict(os.environ, LLM_USER_PATH=str(user_dir), PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            [sys.executable, "-m", "llm", "-m", "chatgptt", "-o", "base_url", site.url,
             "one two three four five six"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        seen: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: seen.put(process.stdout.read(len(b"Echo: one"))),
                         daemon=True).start()
        try:
            first = seen.get(timeout=60)
            assert first == b"Echo: one"
            request = chat_requests(site)[-1]
            assert request.finished_at == 0.0  # the site has not finished the answer
        finally:
            process.kill()
            process.wait()
            process.stdout.close()
            process.stderr.close()


@pytest.mark.parametrize("provider", ["chatgptt", "chatgpt4online"])
def test_chat_continues_the_sites_conversation(site, user_dir, provider):
    out = ok(llm_command(user_dir, "chat", "-m", provider, "-o", "base_url", site.url,
                         stdin="Hi\nAgain\nquit\n"))
    assert "> Echo: Hi\n" in out
    assert "> Echo: Again (history: 2 turns, last: Echo: Hi)\n" in out
    first, second = chat_requests(site)  # one request per turn
    if provider == "chatgptt":
        assert json.loads(first.form["wpaicg_chat_history"]) == []
        history = [item["text"] for item in json.loads(second.form["wpaicg_chat_history"])]
        assert history == ["Human: Hi", "AI: Echo: Hi"]
        assert second.form["message"] == "Again"
        # one SDK conversation: the site's conversation id is the same on both turns
        assert first.form["wpaicg_chat_client_id"] == second.form["wpaicg_chat_client_id"]
    else:
        assert first.json["messages"] == []
        assert second.json["messages"] == [{"role": "user", "content": "Hi"},
                                           {"role": "assistant", "content": "Echo: Hi"}]
        assert second.json["newMessage"] == "Again"
        assert first.json["chatId"] == second.json["chatId"]


def test_continue_in_a_new_process_sends_the_logged_history(site, user_dir):
    ok(llm_command(user_dir, "-m", "chatgpt4online", "-o", "base_url", site.url,
                   "-s", "Be brief.", "Hi"))
    # `llm -c` repeats no options: the site comes from the log, the history too
    out = ok(llm_command(user_dir, "-c", "Again"))
    assert out == "Echo: Be brief.\n\nAgain (history: 2 turns, last: Echo: Be brief.\n\nHi)\n"
    out = ok(llm_command(user_dir, "-c", "Third"))
    assert out.startswith("Echo: Be brief.\n\nThird (history: 4 turns, last: Echo: Be brief.")
    third = chat_requests(site)[-1]
    assert [m["content"] for m in third.json["messages"]] == [
        "Hi", "Echo: Be brief.\n\nHi", "Again",
        "Echo: Be brief.\n\nAgain (history: 2 turns, last: Echo: Be brief.\n\nHi)"]
    assert len(chat_requests(site)) == 3


def test_system_prompt(site, user_dir):
    out = ok(llm_command(user_dir, "-m", "chatgptt", "-o", "base_url", site.url,
                         "-s", "Answer in French.", "Hi"))
    assert out == "Echo: Answer in French.\n\nHi\n"


def test_a_site_error_is_one_line_without_traceback(site, user_dir):
    site.inject("banned_word")
    done = llm_command(user_dir, "-m", "chatgptt", "-o", "base_url", site.url, "Hi")
    assert done.returncode == 1
    assert done.stdout.strip() == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Error: RejectedError (ChatGptt): ")
    assert "Traceback" not in done.stderr
    assert len(chat_requests(site)) == 1  # refused, not sent again


def test_a_bad_option_names_the_option(user_dir):
    done = llm_command(user_dir, "-m", "chatgptt", "-o", "base_url", "ftp://site", "Hi")
    assert done.returncode != 0
    assert "-o base_url must be an http(s) address" in done.stderr
    assert "Traceback" not in done.stderr


def test_logs_record_the_provider_that_answered(site, user_dir):
    ok(llm_command(user_dir, "-m", "chatgptt", "-o", "base_url", site.url, "Hi"))
    logged = json.loads(ok(llm_command(user_dir, "logs", "-n", "1", "--json")))
    assert logged[0]["model"] == "chatgptt"
    assert logged[0]["response"] == "Echo: Hi"
    assert logged[0]["response_json"]["provider"] == "ChatGptt"
    assert logged[0]["response_json"]["base_url"] == site.url


def test_add_saves_a_detected_site_as_a_model(user_dir):
    with LocalSite(plugins=("aipkit",), delay=0) as site:
        out = ok(llm_command(user_dir, "chatgpt-providers", "add", "mysite", site.url + "/"))
        assert out.startswith("Saved mysite: ")
        saved = json.loads((user_dir / "chatgpt-providers.json").read_text(encoding="utf-8"))
        assert saved["mysite"]["provider"] == "AIPower"
        assert saved["mysite"]["base_url"] == site.url
        assert "AIPower: mysite" in ok(llm_command(user_dir, "models")).splitlines()
        assert ok(llm_command(user_dir, "-m", "mysite", "Hi")) == "Echo: Hi\n"
        assert site.routes()[-2:] == ["aipkit_cache", "aipkit_stream"]
        listed = ok(llm_command(user_dir, "chatgpt-providers", "list"))
        assert listed == f"mysite: AIPower at {site.url}/\n"
        assert ok(llm_command(user_dir, "chatgpt-providers", "remove", "mysite")) == "Removed mysite\n"
        assert "mysite" not in ok(llm_command(user_dir, "models"))


def test_add_refuses_a_page_without_a_chatbot_and_a_preset_name(site, user_dir):
    with LocalSite(plugins=()) as bare:  # a WordPress page that shows no chatbot
        done = llm_command(user_dir, "chatgpt-providers", "add", "nosite", bare.url + "/")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: UnsupportedSiteError: ")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    done = llm_command(user_dir, "chatgpt-providers", "add", "chatgptt", site.url + "/")
    assert done.returncode == 2 and "is a preset" in done.stderr
    assert not (user_dir / "chatgpt-providers.json").exists()


def test_loading_the_plugin_loads_no_client_machinery():
    """llm imports every plugin at start-up: this one imports only what it registers."""
    code = ("import sys, llm, chatgpt_providers.interfaces.llm_plugin; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('chatgpt_providers'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "chatgpt_providers.interfaces.llm_plugin" in loaded
    for heavier in ("interfaces.detection", "interfaces.conversation", "interfaces.compat",
                    "interfaces.langchain_model", "testing"):
        assert f"chatgpt_providers.{heavier}" not in loaded


def test_the_readme_llm_commands_run(site, user_dir):
    """The README's llm block in a shell, its stand-in address replaced by this test's (the
    test's site stands in for the block's ``chatgpt-providers serve``)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- llm example -->\n```bash\n(.*?)```", text, re.DOTALL).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("chatgpt-providers serve --port 8080 &")
    env = dict(os.environ, LLM_USER_PATH=str(user_dir), PYTHONIOENCODING="utf-8",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    outputs = []
    for line in lines[1:]:
        stdin = "Hi\nquit\n" if " chat " in line else ""  # llm chat: one turn, then quit
        done = subprocess.run(["bash", "-c", line.replace("http://127.0.0.1:8080", site.url)],
                              input=stdin, capture_output=True, text=True, encoding="utf-8",
                              env=env, timeout=60)
        outputs.append(ok(done))
    answers = "".join(outputs)
    assert "ChatGptt: chatgptt" in outputs[0]
    assert "Echo: What did I just say? (history: 2 turns, last: Echo: Hi)" in answers
    assert "> Echo: Hi" in answers  # llm chat
    assert json.loads(outputs[-1])[0]["response_json"]["provider"] == "AIEngine"


def test_one_client_per_site_when_calls_overlap():
    """``llm`` may run prompts from threads (its Python API): one client per model and site."""
    from concurrent.futures import ThreadPoolExecutor

    from chatgpt_providers.interfaces.llm_plugin import SiteModel, _Clients

    clients = _Clients()
    model = SiteModel("chatgptt", "ChatGptt")
    settings = {"base_url": "http://127.0.0.1:9", "page": "/chat/", "bot_id": None}
    barrier = threading.Barrier(8)

    def get(_):
        barrier.wait()
        return clients.get(model, settings)

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(get, range(8)))
    assert len({id(client) for client in made}) == 1
    assert made[0].page_url == "http://127.0.0.1:9/chat/"
    other = clients.get(model, dict(settings, page="/other/"))
    assert other is not made[0] and other.page_url == "http://127.0.0.1:9/other/"
