"""The architecture picture of one environment: ``architecture.svg`` and ``architecture.png``.

:func:`architecture_dot` lays the environment's lifecycle out left to right (Graphviz DOT,
``rankdir=LR``): one cluster per lifecycle stage in lifecycle order (lake zones, catalog and
preparation, training pipeline and registry, serving, monitoring and feedback, labeling), one node
per meaningful resource or per kind of resource (see :mod:`tools.review.architecture_model`),
edges for the data hand-offs through the lake, the registry and the control paths (retraining),
and a side lane of alert routes into the Alerting stack's topic. Writes back into the lake and
edges against the lifecycle's direction do not move nodes (``constraint=false``), so the stages
stay in order; invisible gate nodes between stages keep every stage right of the one before.

:func:`render_architecture` renders it without a system Graphviz: Graphviz compiled to
WebAssembly (npm ``@hpcc-js/wasm-graphviz``, Apache-2.0, released with each Graphviz release by
HPCC Systems) turns DOT into SVG, and resvg compiled to WebAssembly (npm ``@resvg/resvg-wasm``,
MPL-2.0, the renderer behind ``@resvg/resvg-js``) turns the SVG into PNG, both run by the
project's pinned Node.js (``node_modules/.bin/node``, ``make setup``). WebAssembly has no
platform-specific binary: x86_64 and aarch64 machines produce the same bytes. resvg is given the
Arimo font files (npm ``@expo-google-fonts/arimo``, SIL OFL; Arimo is metric-compatible with
Arial/Helvetica, the font Graphviz's text-width tables size the boxes for) and no system fonts,
so the PNG does not depend on what the machine has installed. Same templates, same bytes.
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

from tools.review.architecture_edges import build_architecture
from tools.review.architecture_model import SIDE_STAGES, STAGES, Architecture, Edge, Node
from tools.review.architecture_render import render_svg_png

#: Fill of the stage's cluster, fill of its nodes, and its border colour.
STAGE_COLORS = {
    "lake": ("#EAF2FB", "#CFE2F7", "#1F5C99"),
    "preparation": ("#EBF6EC", "#CDE9D0", "#2E7D32"),
    "training": ("#FFF4E5", "#FFDDB0", "#C25E00"),
    "serving": ("#F4ECF7", "#E2CFEB", "#6A1B9A"),
    "monitoring": ("#FFFBE6", "#FCEFB4", "#9A7B00"),
    "labeling": ("#E6F7F8", "#C4EAEE", "#00707A"),
    "return": ("#EAF2FB", "#CFE2F7", "#1F5C99"),
    "alerts": ("#FDEDED", "#F8CFCF", "#B71C1C"),
    "network": ("#F0F2F4", "#DCE1E5", "#546E7A"),
    "governance": ("#F3F1EC", "#E3DED2", "#6D5D3B"),
}
SIDE_TITLES = {"alerts": "Alert routes → Alerting", "network": "Network", "governance": "Audit and governance"}
#: Edge looks per style (Edge.style); writes into the lake are drawn in the lake's colour.
EDGE_STYLES = {
    "data": 'color="#5F6B76", fontcolor="#3F4A54"',
    "write": 'color="#1F5C99", fontcolor="#1F5C99"',
    "both": 'color="#1F5C99", fontcolor="#1F5C99", dir=both',
    "grant": 'color="#1F5C99", fontcolor="#1F5C99", style=dashed',
    "control": 'color="#6A1B9A", fontcolor="#6A1B9A", penwidth=1.6',
    "alert": 'color="#B71C1C", style=dashed, arrowhead=vee',
}
FONT = "Helvetica"
#: Weight of the invisible edges that keep the stages in one row.
SPINE_WEIGHT = 100
#: Characters per line of a node's detail text before it wraps.
WRAP = 34
LEGEND = ("grey: reads from the lake (key prefixes) · blue: writes into the lake (dashed: granted to "
          "jobs started outside CloudFormation) · purple: registry and control · red dashed: alert routes")


def _html(text: str) -> str:
    return html.escape(text, quote=True)


def _node_label(node: Node) -> str:
    lines = [f"<B>{_html(node.title)}</B>"]
    for chunk in textwrap.wrap(node.detail, WRAP, break_long_words=False, break_on_hyphens=False):
        lines.append(f'<FONT POINT-SIZE="10">{_html(chunk)}</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _rank_stage(arch: Architecture, node: Node) -> str:
    """The lifecycle stage whose rank a node takes: side-lane nodes take their route's stage."""
    if node.stage in ("network", "governance"):
        return arch.stages[0] if arch.stages else "lake"
    if node.stage == "alerts":
        stage = node.kind.removeprefix("routes_")
        if stage == "network" or stage not in arch.stages:
            return arch.stages[0] if arch.stages else "lake"
        return stage
    return node.stage


def _edge(arch: Architecture, edge: Edge, order: dict[str, int]) -> str:
    """An edge; one against the lifecycle (a write into the lake, retraining) is laid out from its
    head to its tail and drawn with the arrow reversed, so it ranks like a forward edge."""
    src, dst = arch.nodes[edge.src], arch.nodes[edge.dst]
    style = "write" if edge.style == "data" and dst.stage in ("lake", "return") else edge.style
    attrs = [EDGE_STYLES[style]]
    if edge.label:
        attrs.append(f"label={_quote(edge.label)}")
    tail, head = edge.src, edge.dst
    if edge.style == "alert":
        attrs.append("constraint=false")
    elif order.get(_rank_stage(arch, src), 0) > order.get(_rank_stage(arch, dst), 0):
        tail, head = head, tail
        if edge.style != "both":
            attrs.append("dir=back")
    return f"  {tail} -> {head} [{', '.join(attrs)}];"


def _cluster(name: str, title: str, subtitle: str, stage: str, nodes: list[Node]) -> list[str]:
    fill, node_fill, border = STAGE_COLORS[stage]
    label = f'<<B>{_html(title)}</B><BR/><FONT POINT-SIZE="10">{_html(subtitle)}</FONT>>'
    lines = [f"  subgraph cluster_{name} {{",
             f'    label={label}; style="rounded,filled"; fillcolor="{fill}"; color="{border}"; penwidth=1.5;',
             f'    node [fillcolor="{node_fill}", color="{border}"];']
    for node in sorted(nodes, key=lambda n: n.id):
        tooltip = ", ".join(node.members) or node.title
        lines.append(f"    {node.id} [label={_node_label(node)}, tooltip={_quote(tooltip)}];")
    lines.append("  }")
    return lines


def dot_from_architecture(arch: Architecture) -> str:
    """The DOT source of an :class:`~tools.review.architecture_model.Architecture`."""
    stages = arch.stages
    order = {stage: i for i, stage in enumerate(stages)}
    titles = dict(STAGES)
    title = f"ML platform · {arch.env}: the lifecycle, left to right"
    lines = [
        f"digraph {_quote('architecture-' + arch.env)} {{",
        f'  graph [rankdir=LR, newrank=true, fontname="{FONT}", fontsize=20, labelloc=t, labeljust=l, pad=0.3,',
        f'         nodesep=0.25, ranksep=0.4, bgcolor="white", outputorder=edgesfirst,',
        f'         label=<<B>{_html(title)}</B><BR/><FONT POINT-SIZE="11">{_html(LEGEND)}</FONT>>];',
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=12, margin="0.14,0.06", penwidth=1.2];',
        f'  edge [fontname="{FONT}", fontsize=10, arrowsize=0.7, penwidth=1.1];',
    ]
    for i, stage in enumerate(stages, 1):
        stacks = ", ".join(arch.stacks.get(stage, []))
        subtitle = f"stack: {stacks}" if stacks else "outputs no later stage reads, in the lake's buckets"
        lines += _cluster(stage, f"{i} · {titles[stage]}", subtitle, stage, arch.stage_nodes(stage))
    for side in SIDE_STAGES:
        nodes = [n for n in arch.nodes.values() if n.stage == side]
        if nodes:
            stacks = ", ".join(arch.stacks.get(side, [])) or "—"
            lines += _cluster(side, SIDE_TITLES[side], f"stack: {stacks}", side, nodes)
    # Invisible gates: every node of a stage (its side-lane nodes too) before the gate, every node
    # of the next stage after it, so stages never interleave whatever the edges say.
    ranked: dict[str, list[str]] = {stage: [] for stage in stages}
    topics = [n.id for n in arch.nodes.values() if n.kind == "topic"]
    for node in sorted(arch.nodes.values(), key=lambda n: n.id):
        if node.id not in topics and _rank_stage(arch, node) in ranked:
            ranked[_rank_stage(arch, node)].append(node.id)
    gates = [*stages, "end"] if topics else stages
    ranked["end"] = topics
    for i in range(len(gates) - 1):
        gate = f"gate_{i}"
        lines.append(f'  {gate} [shape=point, style=invis, width=0, height=0, label=""];')
        lines += [f"  {n} -> {gate} [style=invis];" for n in ranked[gates[i]]]
        lines += [f"  {gate} -> {n} [style=invis, minlen=0];" for n in ranked[gates[i + 1]]]
    # A heavy invisible spine through the best-connected node of each stage keeps the stages in
    # one row instead of a staircase.
    degree: dict[str, int] = {}
    for edge in arch.edges:
        for end in (edge.src, edge.dst):
            degree[end] = degree.get(end, 0) + 1
    spine = [max(sorted(n.id for n in arch.stage_nodes(stage)), key=lambda i: degree.get(i, 0)) for stage in stages]
    lines += [f"  {a} -> {b} [style=invis, weight={SPINE_WEIGHT}];" for a, b in zip(spine, spine[1:])]
    lines += [_edge(arch, edge, order) for edge in arch.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def architecture_dot(env: str, templates: dict[str, dict]) -> str:
    """The Graphviz DOT source of ``env``'s architecture from its ``{stack name: template}``."""
    return dot_from_architecture(build_architecture(env, templates))


def render_architecture(env: str, templates: dict[str, dict], out_dir: Path) -> list[Path]:
    """Write ``architecture.svg`` and ``architecture.png`` of ``env`` into ``out_dir`` (created if
    missing); returns their paths. Needs the npm devDependencies of ``make setup``."""
    svg, png = render_svg_png(architecture_dot(env, templates))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "architecture.svg", out_dir / "architecture.png"]
    paths[0].write_text(svg, encoding="utf-8")
    paths[1].write_bytes(png)
    return paths


__all__ = ["architecture_dot", "render_architecture"]
