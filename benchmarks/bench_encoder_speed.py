"""Training and encoding throughput of a pretrained sentence encoder as a tower, on this machine.

What sizes the lm_record kind's defaults: records per second through one training step
(forward, backward, Adam) at `--batch-size` and `--length` tokens, and records per second encoded.

    .venv/bin/python benchmarks/bench_encoder_speed.py --length 64 --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--pretrained", default="all-MiniLM-L6-v2")
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from simsearch.models.pretrained import load_pretrained, sentence_embedding

    text = keras.Input((), dtype="string", name="text")
    x = sentence_embedding(text, load_pretrained(args.pretrained), max_length=args.length)
    model = keras.Model(text, keras.layers.UnitNormalization()(x))
    # Product text long enough to fill the sequence.
    product = "sony bravia kdl40v4100 40 inch lcd hdtv black " * 20
    batch = tf.constant(np.array([product] * args.batch_size, object))
    optimizer = keras.optimizers.Adam(2e-5)

    @tf.function
    def step(texts: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            e = model(texts, training=True)
            loss = tf.reduce_mean(tf.matmul(e, e, transpose_b=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        return loss

    step(batch)  # traced once
    start = time.perf_counter()
    for _ in range(args.steps):
        step(batch)
    train = args.steps * args.batch_size / (time.perf_counter() - start)
    texts = np.array([product] * 256, object)
    start = time.perf_counter()
    model.predict(texts, batch_size=128, verbose=0)
    encode = len(texts) / (time.perf_counter() - start)
    load = os.getloadavg()[0]
    print(
        f"{args.pretrained} at {args.length} tokens, batch {args.batch_size}: train {train:.1f} records/s, "
        f"encode {encode:.1f} records/s ({os.cpu_count()} cores, load average {load:.2f})"
    )


if __name__ == "__main__":
    main()
