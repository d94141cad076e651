"""The suite's input-pipeline check: images/s the pipeline delivers against what each
model's step consumes.

    python benchmarks/suite_pipeline.py --plan OUT/plan.json --steps OUT/jax_steps.jsonl \
        --out OUT/pipeline.json

For each model of the plan, at its batch size and resolution: `input_pipeline.pipeline_images_per_s`
drains ``gan_jax.data.pipeline.batches`` (index arithmetic, gathering the batch from the in-memory
uint8 array, host-to-device transfer, prefetch thread) over ``pipeline.batches`` step
batches of ``n_critic`` × batch images from an in-memory synthetic dataset of
``pipeline.examples`` images (``dataset.source='synthetic'``). The step's consumption is
``n_critic`` × its images/s from the gan_jax step rows of the same run, the fastest dtype
(the one the pipeline must keep up with). The goal on accelerators is a ratio ≥ 5.
"""

import argparse
import json

import common
import input_pipeline
import suite_plan

GOAL = 5.0


def consumption(rows: list[dict], model: dict) -> float | None:
    """Real images/s the fastest measured step of ``model`` reads (None when none was measured)."""
    rates = [r["images_per_s"] for r in rows if r.get("model") == model["name"] and "images_per_s" in r]
    return max(rates) * model["n_critic"] if rates else None


def read_rows(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--steps", required=True, help="suite_jax_steps.py's rows")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = suite_plan.load(args.plan)
    steps = read_rows(args.steps)
    rows = []
    for model in plan["models"]:
        config = suite_plan.config_of(model)
        config.dataset.update(source="synthetic", max_examples=plan["pipeline"]["examples"])
        delivered = input_pipeline.pipeline_images_per_s(config, plan["pipeline"]["batches"])
        consumed = consumption(steps, model)
        row = {
            "model": model["name"],
            "batch": model["batch"],
            "resolution": config.dataset.resolution,
            "images_per_step": model["n_critic"] * model["batch"],
            "pipeline_img_s": delivered,
            "step_consumes_img_s": consumed,
            "ratio": delivered / consumed if consumed else None,
            "goal": GOAL,
        }
        rows.append(row)
        print(json.dumps(row))
    common.write_json(args.out, {"rows": rows})


if __name__ == "__main__":
    main()
