#!/usr/bin/env python3
"""The delivery pipeline's CDK app (tooling account): ``cdk synth --app "python3 pipeline_app.py"``.

See ml_platform/delivery/app.py and docs/delivery.md.
"""

from ml_platform.delivery.app import main

if __name__ == "__main__":
    main()
