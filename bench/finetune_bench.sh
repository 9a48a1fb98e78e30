#!/usr/bin/env bash
# Fine-tuning speed (issue 13): the last block of torchvision's resnet18
# (layer4 and a new 10-class head) on IMAGES (default 1,000) 224x224 images,
# finetuned beside PyTorch in the same run, at each thread count (THREADS,
# default "1 2"); seconds per epoch and the ratios (PyTorch / finetuned).
#   finetuned: the service (bench/finetune_service.py): the ONNX export
#     uploaded, a job with freeze {"trainable_from": layer4's first conv}
#     and the feature store on. "first" is the epoch that also computes the
#     frozen prefix's features, "cached" an epoch on them, "store" the whole
#     one-epoch job that reads them back from DATA/features.
#   PyTorch (bench/torch_finetune.py): requires_grad=False below layer4,
#     the frozen forward recomputed every epoch ("frozen"), and, to be fair
#     to it, the same with layer3's outputs computed once beforehand
#     ("precomp.": first = that plus an epoch, cached = an epoch).
# Needs /usr/bin/python3 with python3-torch and python3-torchvision, and
# build/bench/onnx_forward (`make bench-tools`) for OpenBLAS's core name.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FT_BUILD:-build}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 bench/torch_infer.py export "$TMP/resnet18.onnx"
/usr/bin/python3 bench/torch_finetune.py data "$TMP/images.safetensors" "${IMAGES:-1000}"

ratio() { jq -n "$1 / $2" | xargs printf '%.2fx'; }
printf '%-7s %-7s %9s %9s %9s %9s %9s %9s\n' threads epoch finetuned store torch "precomp." "vs torch" "vs prec."
for threads in ${THREADS:-1 2}; do
    ours=$(OPENBLAS_NUM_THREADS=1 FT_BUILD=$BUILD /usr/bin/python3 bench/finetune_service.py \
        "$TMP/resnet18.onnx" "$TMP/images.safetensors" "$threads")
    torch=$(cd bench && OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 torch_finetune.py run \
        "$TMP/images.safetensors" "$threads")
    first=$(jq .first_epoch <<<"$ours")
    cached=$(jq .cached_epoch <<<"$ours")
    store=$(jq .store_hit <<<"$ours")
    frozen=$(jq -s '.[] | select(.mode == "frozen") | .epochs | min' <<<"$torch")
    pre_cached=$(jq -s '.[] | select(.mode == "precomputed") | .epochs | min' <<<"$torch")
    pre_first=$(jq -s '.[] | select(.mode == "precomputed") | .precompute_seconds + .epochs[0]' <<<"$torch")
    printf '%-7d %-7s %9.2f %9.2f %9.2f %9.2f %9s %9s\n' "$threads" first "$first" "$store" "$frozen" \
        "$pre_first" "$(ratio "$frozen" "$first")" "$(ratio "$pre_first" "$first")"
    printf '%-7d %-7s %9.2f %9s %9.2f %9.2f %9s %9s\n' "$threads" cached "$cached" - "$frozen" "$pre_cached" \
        "$(ratio "$frozen" "$cached")" "$(ratio "$pre_cached" "$cached")"
done
echo
echo "finetuned: $(OPENBLAS_NUM_THREADS=1 "$BUILD/bench/onnx_forward" --corename)"
