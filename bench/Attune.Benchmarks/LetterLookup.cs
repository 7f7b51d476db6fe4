using System.Diagnostics;
using System.Globalization;
using Attune.Reasoning.Tasks;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// Is the letter look-up of the <c>next</c> task learnable by the built-in tiny Llama through Attune's
/// training path? Trains a fresh <c>tiny</c> Llama (seed 1) with <see cref="SequenceSft.Run"/> on the
/// <c>next</c> prompt, answer-only (response = the letter + EOS, fresh random examples every step):
/// <c>--task copy</c> answers the sequence's last letter itself, <c>--task next</c> its successor; <c>--min-letters</c>/<c>--max-letters</c> (44/84, the task's) set the sequence length.
/// Every <c>--eval-every</c> steps prints the accuracy (argmax of the first response token, what greedy
/// decoding answers first) and that token's mean NLL on 256 held-out prompts. The peer
/// <c>bench/peers/letter_lookup_torch.py</c> does the same in PyTorch. Run:
/// <c>dotnet run -c Release --project bench/Attune.Benchmarks -- letter-lookup --task copy --steps 600 --batch 32 --lr 3e-3 --size tiny</c>.
/// </summary>
public static class LetterLookup
{
    public static int Run(string[] args)
    {
        var task = BenchArgs.Value(args, "--task", "copy");
        var steps = BenchArgs.Int(args, "--steps", 600);
        var batch = BenchArgs.Int(args, "--batch", 32);
        var evalEvery = BenchArgs.Int(args, "--eval-every", 100);
        var seed = BenchArgs.Int(args, "--seed", 1);
        var (minLetters, maxLetters) = (BenchArgs.Int(args, "--min-letters", 44), BenchArgs.Int(args, "--max-letters", 84));
        var lr = double.Parse(BenchArgs.Value(args, "--lr", "3e-3"), CultureInfo.InvariantCulture);
        torch.set_num_threads(BenchArgs.Int(args, "--threads", 1));
        var tokenizer = CharTokenizer.FromAlphabet(new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]));
        using var model = ModelFolder.Initialize(BuiltInModels.Create("llama", BenchArgs.Value(args, "--size", "tiny"), tokenizer.VocabSize), seed);

        SequencePair Example(Random rng)
        {
            var letters = new string([.. Enumerable.Range(0, minLetters + rng.Next(maxLetters - minLetters + 1)).Select(_ => (char)('a' + rng.Next(26)))]);
            var answer = task == "copy" ? letters[^1] : (char)('a' + ((letters[^1] - 'a' + 1) % 26));
            return new SequencePair(tokenizer.Encode(NextLetter.Instruction(letters)), [.. tokenizer.Encode(answer.ToString()), tokenizer.EosTokenId!.Value]);
        }

        var test = Enumerable.Range(0, 256).Select(i => Example(new Random(10_000 + i))).ToList();
        (double Accuracy, double Nll) Evaluate()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var logps = LogProbs.Response(model, [.. test.Select(p => new SequencePair(p.Prompt, p.Response[..1]))], tokenizer.PadTokenId!.Value);
            var right = 0;
            foreach (var p in test)
            {
                using var logits = model.Forward(tensor(p.Prompt.Select(x => (long)x).ToArray(), [1, p.Prompt.Length]));
                right += logits[0, -1].argmax().item<long>() == p.Response[0] ? 1 : 0;
            }

            return ((double)right / test.Count, -logps.Sum.mean().item<float>());
        }

        var rng = new Random(seed);
        var clock = Stopwatch.StartNew();
        var step = 0;
        var losses = SequenceSft.Run(model, () =>
        {
            if (step > 0 && step % evalEvery == 0)
            {
                var (acc, nll) = Evaluate();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {step} answer_nll {nll:F3} acc {acc:F3} ({clock.Elapsed.TotalSeconds:F0}s)"));
            }

            step++;
            return [.. Enumerable.Range(0, batch).Select(_ => Example(rng))];
        }, steps, lr, tokenizer.PadTokenId!.Value);
        var (a, n) = Evaluate();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {steps} train_loss {losses[^1]:F3} answer_nll {n:F3} acc {a:F3} ({clock.Elapsed.TotalSeconds:F0}s)"));
        return 0;
    }
}
