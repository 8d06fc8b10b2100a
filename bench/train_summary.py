"""Summary of bench/train.sh and bench/train_stories15m.sh: one JSON object per run as
arguments, alternating SwiftLlama then PyTorch; prints each pair and its speed ratio, and the
median ratio over several pairs."""
import json, statistics, sys
runs = [json.loads(s) for s in sys.argv[1:]]
print(f"{'':16}{'tokens/s':>10}{'wall s':>9}{'train':>8}{'val':>8}")
ratios = []
for i in range(0, len(runs), 2):
    a, b = runs[i], runs[i + 1]
    for name, r in (("swiftllama", a), ("pytorch", b)):
        print(f"{name:16}{r['tokens_per_s']:>10.0f}{r['wall_s']:>9.1f}{r['train_loss']:>8.4f}{r['val_loss']:>8.4f}")
    ratios.append(a['tokens_per_s'] / b['tokens_per_s'])
    print(f"speed ratio swiftllama/pytorch: {ratios[-1]:.2f}x")
if len(ratios) > 1:
    print(f"median ratio over {len(ratios)} runs: {statistics.median(ratios):.2f}x")
