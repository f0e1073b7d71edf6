"""Write a config directory with one large environment, generated from config/prod.yaml.

    python tools/scale_config.py OUT_DIR                      # 200/50/20/50/20 (the issue's scale)
    python tools/scale_config.py OUT_DIR --datasets 40 --endpoints 35   # a mid-size one for tests

The environment (``scale`` unless ``--env``) keeps prod's datasets, model, endpoint and monitor and
adds copies of them: Glue datasets ``ds001``... (prod's ``sales``), DataBrew datasets ``br001``...
(prod's ``customers``), models ``m01``... each with a pipeline like ``churn``'s that reads
``accounts`` and one Glue dataset (``m01`` the first of the DataCatalog2 stack, ``m02`` of
DataCatalog3, ..., so pipelines read every stack), endpoints ``ep001``... serving those models like prod's ``churn`` endpoint, and monitors on
the first endpoints (with data capture and their own baseline keys). Counts include prod's own
units. The result passes the configuration's validation (it is loaded before it is written).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml_platform.stacks.partition import GROUP_SIZES  # noqa: E402

#: The issue's target scale: Glue datasets, DataBrew datasets, models with pipelines, endpoints,
#: monitored endpoints.
FULL_SCALE = {"datasets": 200, "databrew": 50, "models": 20, "endpoints": 50, "monitored": 20}


def scale_config(env: str, *, datasets: int, databrew: int, models: int, endpoints: int,
                 monitored: int) -> dict[str, Any]:
    """prod's configuration, named ``env``, with the given numbers of units (each at least prod's one)."""
    config = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    config["tags"]["environment"] = env
    catalog, training = config["data_catalog"], config["training"]
    prod_datasets = list(catalog["datasets"])
    glue = [f"ds{n:03d}" for n in range(1, datasets - len(catalog["datasets"]) + 1)]
    for name in glue:
        catalog["datasets"][name] = copy.deepcopy(catalog["datasets"]["sales"])
    brew = catalog["databrew"]["customers"]
    for n in range(1, databrew - len(catalog["databrew"]) + 1):
        catalog["databrew"][f"br{n:03d}"] = copy.deepcopy(brew)
    churn = training["pipelines"][0]
    names = [f"m{n:02d}" for n in range(1, models)]
    for index, model in enumerate(names):
        pipeline = copy.deepcopy(churn)
        pipeline["model"] = model
        # The first dataset of DataCatalog stack index + 2, so pipelines read every stack; fixed
        # positions, so that appending a dataset changes no pipeline.
        first = GROUP_SIZES["datasets"] * (index + 1) - len(prod_datasets)
        source = glue[first] if first < len(glue) else glue[index % len(glue)] if glue else "sales"
        pipeline["features"]["sources"][1]["dataset"] = source
        training["pipelines"].append(pipeline)
    training["models"] += names
    served = config["serving"]["endpoints"]
    monitor = config["monitoring"]["endpoints"]["churn"]
    every_model = ["churn", *names]
    keys = [f"ep{n:03d}" for n in range(1, endpoints)]
    for index, key in enumerate(keys):
        endpoint = copy.deepcopy(served["churn"])
        endpoint["model"] = every_model[(index + 1) % len(every_model)]
        served[key] = endpoint
    for key in keys[:monitored - 1]:
        text = yaml.safe_dump(monitor).replace("churn/", f"{key}/")
        config["monitoring"]["endpoints"][key] = yaml.safe_load(text)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write <env>.yaml into (created)")
    parser.add_argument("--env", default="scale", help="environment name (default: scale)")
    for kind, default in FULL_SCALE.items():
        parser.add_argument(f"--{kind}", type=int, default=default, help=f"default: {default}")
    args = parser.parse_args(argv)
    config = scale_config(args.env, **{kind: getattr(args, kind) for kind in FULL_SCALE})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.env}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    from ml_platform.config import load_environment

    load_environment(path)  # raises ConfigError naming every problem
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
