"""Issue 11: the README's advice for notebooks and async code, run in a real Jupyter kernel."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def notebook_section():
    text = README.read_text(encoding="utf-8")
    return re.search(r"^### Notebooks and async code\n(.*?)^### ", text, re.S | re.M).group(1)


def test_the_readme_says_calls_block_and_advises_no_asyncio_run():
    section = notebook_section()
    assert "Every call blocks" in section
    assert "asyncio.to_thread" in section
    assert "or inside `asyncio.run" not in README.read_text()  # the old, failing advice
    assert "never need it" in section


def run_cells(sources):
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed: pip install -e '.[test]'")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no python3 Jupyter kernel installed (pip install ipykernel)")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return ["".join(out.get("text", "") for out in cell.get("outputs", [])) for cell in notebook.cells]


def test_the_readme_async_pattern_keeps_the_notebooks_event_loop_running():
    block = re.search(r"```python\n(.*?)```", notebook_section(), re.S).group(1)
    assert "await asyncio.to_thread(" in block
    question = "one two three four five six seven eight"
    block = block.replace('"What is WordPress?"', repr(question))
    setup = (
        "import asyncio, time\n"
        "from chatgpt_providers import ChatGptt\n"
        "from chatgpt_providers.testing import LocalSite\n"
        "site = LocalSite(delay=0.05).start()\n"
        "ChatGptt.url = site.url  # the README's ChatGptt() talks to the stand-in\n"
        "ticks = []\n"
        "async def ticker():\n"
        "    while True:\n"
        "        ticks.append(time.monotonic())\n"
        "        await asyncio.sleep(0.01)\n"
        "task = asyncio.ensure_future(ticker())\n"
    )
    blocking = ("before = len(ticks)\n"
                f"print(ChatGptt().complete({question!r}))\n"
                "print('TICKS', len(ticks) - before)\n")
    readme = "before = len(ticks)\n" + block + "\nprint('TICKS', len(ticks) - before)\n"
    outputs = run_cells([setup, blocking, readme, "task.cancel(); site.stop()"])
    answer = f"Echo: {question}"
    assert outputs[1].splitlines() == [answer, "TICKS 0"]  # a direct call blocks the loop
    lines = outputs[2].splitlines()
    assert lines[0] == answer
    assert int(lines[1].split()[1]) > 0  # with the README's pattern the loop kept running


def test_display_stream_leaves_the_reply_as_text_plain_for_text_only_frontends():
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed: pip install -e '.[test]'")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no python3 Jupyter kernel installed (pip install ipykernel)")
    cells = [
        "from chatgpt_providers import ChatGptt\n"
        "from chatgpt_providers.testing import LocalSite\n"
        "site = LocalSite(delay=0.001).start()",
        "answer = ChatGptt(base_url=site.url).display_stream('Tell me **more**')",
        "site.stop()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    saved = nbformat.reads(nbformat.writes(notebook), as_version=4)  # as a saved .ipynb holds it
    outputs = saved.cells[1].outputs
    assert len(outputs) == 1 and outputs[0].output_type == "display_data"
    data = outputs[0].data
    assert data["text/plain"] == "Echo: Tell me **more**"   # not '<IPython...Markdown object>'
    assert data["text/markdown"] == "Echo: Tell me **more**"
