using System.Threading.Channels;
using Attune.Torch.Models;
using Attune.Torch.Serving;

namespace Attune.Torch.Tests.Serving;

public class BatchDecoderTests
{
    private static async Task<int[]> Drain(ChannelReader<DecodedToken> reader)
    {
        var ids = new List<int>();
        await foreach (var t in reader.ReadAllAsync())
        {
            ids.Add(t.Id);
        }

        return [.. ids];
    }

    [Fact]
    public async Task Prompts_of_different_lengths_decoded_together_give_their_tokens_alone()
    {
        using var model = CausalLM.Load(Fixtures.Model("qwen2"));
        int[][] prompts = [[5, 9, 13], [7, 3, 250, 31, 8, 99, 12, 4], [100], [42, 43, 44, 45, 46]];
        var options = new GenerationOptions { Greedy = true, MaxNewTokens = 24 };
        var alone = prompts.Select(p => Generation.Generate(model, [p], options)[0].NewIds).ToArray();

        // Hold the decoder's thread while all four arrive, so that their prompts are read in padded groups.
        using var decoder = new BatchDecoder(model);
        using var hold = new ManualResetEventSlim();
        var held = decoder.RunAsync(() => hold.Wait(TimeSpan.FromSeconds(30)));
        var readers = prompts.Select(p => decoder.Start(p, options, null, -1, [], CancellationToken.None)).ToList();
        hold.Set();
        Assert.True(await held);
        var together = await Task.WhenAll(readers.Select(Drain));

        Assert.Equal(alone, together);
        Assert.True(decoder.LargestBatch >= 2, $"largest batch {decoder.LargestBatch}");
        Assert.Equal(0, decoder.ActiveSequences);
    }

    [Fact]
    public async Task A_sequence_joining_a_running_batch_gives_its_tokens_alone()
    {
        // A context of 2048: the first sequence runs long enough for the late one to join it.
        using var model = ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", 512), seed: 3);
        var options = new GenerationOptions { Greedy = true, MaxNewTokens = 12 };
        int[] first = [5, 9, 13, 200, 201, 202, 203, 17];
        int[] late = [7, 3];
        var expected = Generation.Generate(model, [late], options)[0].NewIds;

        using var decoder = new BatchDecoder(model);
        using var stopFirst = new CancellationTokenSource();
        var running = decoder.Start(first, options with { MaxNewTokens = 2000 }, null, -1, [], stopFirst.Token);
        await running.ReadAsync();   // the first is in the batch (its cache longer than the late prompt)

        // Hold the decoder between two steps and let the late one arrive then. The decoder does not wait for
        // readers, so without the hold a starved test thread could find the first finished (seen in CI at load 17).
        using var holding = new ManualResetEventSlim();
        using var hold = new ManualResetEventSlim();
        var held = decoder.RunAsync(() =>
        {
            holding.Set();
            var active = decoder.ActiveSequences;
            hold.Wait(TimeSpan.FromSeconds(30));
            return active;
        });
        Assert.True(holding.Wait(TimeSpan.FromSeconds(30)));
        var lateReader = decoder.Start(late, options, null, -1, [], CancellationToken.None);
        hold.Set();
        Assert.Equal(1, await held);   // the first was still running when the late one arrived
        var joined = await Drain(lateReader);
        await stopFirst.CancelAsync();
        Assert.Equal(expected, joined);
        Assert.Equal(2, decoder.LargestBatch);
    }

    [Fact]
    public async Task Cancelling_drops_the_sequence_and_log_probs_come_with_top_alternatives()
    {
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        using var decoder = new BatchDecoder(model);
        using var cancel = new CancellationTokenSource();
        var reader = decoder.Start([5, 9, 13], new GenerationOptions { Greedy = true, MaxNewTokens = 200 }, null, 2, [], cancel.Token);
        var first = await reader.ReadAsync();
        Assert.Equal(2, first.TopIds!.Length);
        Assert.Equal(first.TopIds[0], first.Id);
        Assert.Equal(first.TopLogProbs![0], first.LogProb, 5);
        Assert.True(first.TopLogProbs[0] >= first.TopLogProbs[1]);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Drain(reader));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (decoder.ActiveSequences > 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, decoder.ActiveSequences);
        Assert.True(decoder.GeneratedTokens < 200);
    }
}
