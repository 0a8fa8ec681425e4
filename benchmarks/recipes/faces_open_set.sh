#!/bin/bash
# Re-run the recipe's open-set steps (4-5, and the baselines' open-set evaluate) with the
# per-identification --max-far, on the 10 splits and models that runs/recipes-v2 trained.
cd "$(dirname "$0")/../.."
export TF_CPP_MIN_LOG_LEVEL=3
PATH=$PWD/.venv/bin:$PATH
for SEED in 0 1 2 3 4 5 6 7 8 9; do
  SRC=$PWD/runs/recipes-v2/faces/seed$SEED
  RUN=$PWD/runs/recipes-v3/faces/seed$SEED
  mkdir -p $RUN
  for d in split model pixels linear; do ln -sfn $SRC/$d $RUN/$d; done
  cp $SRC/unseen.json $SRC/unseen_pixels.json $SRC/unseen_linear.json $RUN/
  rm -rf $RUN/index $RUN/index_pixels $RUN/index_linear
  simsearch enrol --model $RUN/model --index $RUN/index --people $RUN/split/gallery --max-far 0.001 > $RUN/enrol.log
  simsearch evaluate --index $RUN/index --data $RUN/split/probes --catalog $RUN/split/gallery \
      --hits $RUN/hits.csv --json --no-plots > $RUN/open_set.json
  for BASE in pixels linear; do
    simsearch build-index --model $RUN/$BASE --catalog $RUN/split/gallery --index $RUN/index_$BASE > /dev/null
    simsearch evaluate --index $RUN/index_$BASE --data $RUN/split/probes --max-far 0.001 --json \
        --no-plots > $RUN/open_set_$BASE.json
  done
  echo "seed $SEED done"
done
