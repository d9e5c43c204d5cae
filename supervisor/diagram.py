"""Print the lifecycle state machine as a Mermaid state diagram."""

from __future__ import annotations

from transitions.extensions import GraphMachine

from supervisor.machine import STATES, TRANSITIONS


class _Model:
    """Stand-in model: the diagram needs the transitions, not their callbacks."""


def mermaid() -> str:
    """Return the Mermaid source of the lifecycle machine, built from its definition."""
    model = _Model()
    GraphMachine(
        model=model,
        states=STATES,
        transitions=TRANSITIONS,
        initial="init",
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title="multus-config lifecycle",
    )
    source = str(model.get_graph().draw(None))  # type: ignore[attr-defined]
    # transitions 0.9 writes "Class NAME STYLE", but Mermaid's keyword is the
    # lower-case "class", and its parser rejects the capitalised one.
    return "\n".join(
        "  class " + line.removeprefix("  Class ") if line.startswith("  Class ") else line
        for line in source.splitlines()
    )
