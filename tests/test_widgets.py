"""Notebooks with widgets run without waiting: dltrack.nbplugins.LocalOutputWidget.

nbclient stands in for the front end of an Output widget (where a slider draws its figure) and
sends each output back to the kernel while it waits for the cell's reply; when the two cross, the
run waits out the cell's timeout. Ours keeps the outputs in the notebook and sends nothing.
"""
import json

import jupyter_client.session
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import harness
from dltrack.nbplugins import LocalOutputWidgets, LocalWidgetsClient

CAPTURE = "import ipywidgets\nout = ipywidgets.Output()\ndisplay(out)\nwith out:\n    print('drawn in the widget')"


def run(client_class, monkeypatch):
    """(the notebook run by `client_class`, the types of the messages the client sent the kernel)"""
    sent, send = [], jupyter_client.session.Session.send

    def recording(self, stream, msg_or_type, *args, **kwargs):
        sent.append(msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"])
        return send(self, stream, msg_or_type, *args, **kwargs)

    monkeypatch.setattr(jupyter_client.session.Session, "send", recording)
    nb = new_notebook(cells=[new_code_cell(CAPTURE), new_code_cell("print('next')")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client_class(nb, timeout=60).execute()
    return nb, sent


def test_an_output_widget_keeps_its_outputs_and_sends_nothing_back(monkeypatch):
    nb, sent = run(LocalWidgetsClient, monkeypatch)
    assert "comm_msg" not in sent, f"the client sent the kernel {sent}"
    state = json.dumps(nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"])
    assert "drawn in the widget" in state, "the widget's output is not in the notebook's widget state"
    assert nb.cells[1].outputs[0].text == "next\n"


def test_nbclients_own_output_widget_sends_its_outputs_back(monkeypatch):
    """The echo LocalOutputWidget leaves out exists (else the test above proves nothing)."""
    _, sent = run(NotebookClient, monkeypatch)
    assert "comm_msg" in sent, f"nbclient sent the kernel only {sent}"


def test_the_worked_solutions_and_the_grader_use_it():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(harness.ROOT)).load_config()
    for step in ("GenerateSolution.preprocessors", "Autograde.autograde_preprocessors"):
        section, name = step.split(".")
        assert any(issubclass(p, LocalOutputWidgets) for p in config[section][name]), step
