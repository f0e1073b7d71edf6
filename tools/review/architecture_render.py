"""DOT -> SVG -> PNG with WebAssembly builds of Graphviz and resvg on the project's Node.js.

One ``node`` process per picture: it loads ``@hpcc-js/wasm-graphviz`` and ``@resvg/resvg-wasm``
from the repository's ``node_modules`` (npm devDependencies, ``make setup``), reads the DOT source
on stdin and writes a JSON object ``{"svg": ..., "png": <base64>}`` on stdout. Nothing is fetched
at run time and no system font is read: resvg gets only the Arimo files of :data:`FONT_FILES`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
#: The pinned Node.js (npm package ``node``); ``node`` on PATH if it is missing.
NODE = NODE_MODULES / ".bin" / "node"
#: Arimo regular and bold (metric-compatible with Helvetica/Arial, the font the DOT names).
FONT_FILES = tuple(NODE_MODULES / "@expo-google-fonts" / "arimo" / f"{style}/Arimo_{style}.ttf"
                   for style in ("400Regular", "700Bold"))
FONT_FAMILY = "Arimo"
#: PNG pixels per SVG point.
PNG_ZOOM = 1.5
#: Seconds one render may take before it is reported as hung.
TIMEOUT_SECONDS = 60

_SCRIPT = r"""
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [root, options] = [process.argv[1], JSON.parse(process.argv[2])];
const require = createRequire(root + "/package.json");
const { Graphviz } = await import(pathToFileURL(require.resolve("@hpcc-js/wasm-graphviz")).href);
const resvg = require("@resvg/resvg-wasm");
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const dot = Buffer.concat(chunks).toString("utf8");
const graphviz = await Graphviz.load();
const svg = graphviz.dot(dot, "svg");
await resvg.initWasm(readFileSync(require.resolve("@resvg/resvg-wasm/index_bg.wasm")));
const image = new resvg.Resvg(svg, {
  fitTo: { mode: "zoom", value: options.zoom },
  font: { fontBuffers: options.fonts.map((f) => readFileSync(f)), loadSystemFonts: false,
          defaultFontFamily: options.family, sansSerifFamily: options.family, serifFamily: options.family },
});
const png = image.render().asPng();
process.stdout.write(JSON.stringify({ svg, png: Buffer.from(png).toString("base64"), graphviz: graphviz.version() }));
"""


class RenderError(RuntimeError):
    """The renderer is missing or failed; the message says what to do."""


def _node() -> str:
    if NODE.exists():
        return str(NODE)
    found = shutil.which("node")
    if found is None:
        raise RenderError(f"architecture rendering needs Node.js: {NODE} is missing and no node is on PATH; run `make setup`")
    return found


def render_svg_png(dot: str) -> tuple[str, bytes]:
    """The SVG text and PNG bytes of ``dot``."""
    missing = [p for p in (NODE_MODULES / "@hpcc-js" / "wasm-graphviz", NODE_MODULES / "@resvg" / "resvg-wasm", *FONT_FILES)
               if not p.exists()]
    if missing:
        raise RenderError(f"architecture rendering needs the npm devDependencies: {missing[0]} is missing; run `make setup`")
    options = {"fonts": [str(f) for f in FONT_FILES], "family": FONT_FAMILY, "zoom": PNG_ZOOM}
    try:
        result = subprocess.run([_node(), "--input-type=module", "-e", _SCRIPT, str(ROOT), json.dumps(options)],
                                input=dot.encode(), capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise RenderError(f"architecture rendering took more than {TIMEOUT_SECONDS} s") from error
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise RenderError(f"architecture rendering failed: {message[-1] if message else result.returncode}")
    output = json.loads(result.stdout)
    return output["svg"], base64.b64decode(output["png"])
