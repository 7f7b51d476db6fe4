using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// A model that shows its tokens: raw-text completion, per-token log-probabilities and prompt
/// scoring, beside the chat of its <see cref="IChatClient"/>. A client that offers it returns it
/// from <c>GetService(typeof(ITokenModel))</c> (Attune.Torch's <c>hf:</c> client does); the
/// OpenAI-compatible server (Attune.Serving) uses it for <c>/v1/completions</c>, <c>logprobs</c>
/// and <c>echo</c>, and falls back to plain chat for clients without it.
/// </summary>
public interface ITokenModel
{
    /// <summary>The most positions (prompt and answer together) the model reads.</summary>
    int ContextLength { get; }

    /// <summary>
    /// Generates a continuation of <paramref name="request"/>'s prompt: pieces of text, each with
    /// the tokens generated since the one before, then a last piece with the finish reason. A stop
    /// sequence ends the text before it; cancelling <paramref name="cancellationToken"/> stops the generation.
    /// </summary>
    IAsyncEnumerable<TokenPiece> GenerateAsync(TokenRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// The prompt's tokens, each with log p(token | the tokens before it) (null for the first) and
    /// its <paramref name="topLogProbs"/> most likely alternatives.
    /// </summary>
    Task<IReadOnlyList<ScoredToken>> ScoreAsync(TokenPrompt prompt, int topLogProbs, CancellationToken cancellationToken = default);

    /// <summary>The token ids of a prompt as the model reads it (for usage counts and length checks).</summary>
    IReadOnlyList<int> Encode(TokenPrompt prompt);

    /// <summary>The text of token ids (special tokens included).</summary>
    string Decode(IReadOnlyList<int> ids);
}

/// <summary>
/// What to continue: chat messages (formatted with the model's chat template, ending where the
/// assistant's answer begins), plain text, or token ids. <see cref="User"/> names the user of a
/// personalised model (null: the generic user).
/// </summary>
public sealed record TokenPrompt
{
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    public string? Text { get; init; }

    public IReadOnlyList<int>? Ids { get; init; }

    public string? User { get; init; }

    public static TokenPrompt Chat(IReadOnlyList<ChatMessage> messages, string? user = null) => new() { Messages = messages, User = user };

    public static TokenPrompt Plain(string text, string? user = null) => new() { Text = text, User = user };

    public static TokenPrompt Tokens(IReadOnlyList<int> ids, string? user = null) => new() { Ids = ids, User = user };
}

/// <summary>How to generate: the sampling settings of OpenAI's API, and how many log-probs to report.</summary>
public sealed record TokenRequest
{
    public required TokenPrompt Prompt { get; init; }

    public int MaxTokens { get; init; } = 16;

    /// <summary>0: the most likely token each step.</summary>
    public double Temperature { get; init; } = 1.0;

    public double TopP { get; init; } = 1.0;

    /// <summary>0: no top-k cut.</summary>
    public int TopK { get; init; }

    /// <summary>The seed of the sampler (null: the model's default).</summary>
    public long? Seed { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Keep generating past end-of-turn and end-of-sequence tokens, up to <see cref="MaxTokens"/> (vLLM's <c>ignore_eos</c>; for benchmarks).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Report each generated token's log-prob.</summary>
    public bool LogProbs { get; init; }

    /// <summary>With <see cref="LogProbs"/>: how many most likely alternatives to report per token.</summary>
    public int TopLogProbs { get; init; }
}

/// <summary>A token with its log-prob (null where nothing predicts it) and its most likely alternatives.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Text">The token's text, decoded alone (a byte of a longer character decodes to U+FFFD).</param>
/// <param name="LogProb">log p(token | the tokens before it), under the model's own distribution (temperature 1, nothing cut).</param>
/// <param name="Top">The most likely tokens at that position, most likely first.</param>
/// <param name="Offset">Where the token's text begins in the whole text, in characters.</param>
public sealed record ScoredToken(int Id, string Text, double? LogProb, IReadOnlyList<TokenAlternative> Top, int Offset)
{
    /// <summary>The bytes the token adds to the text (part of a character for a byte-level token that splits one); null: the UTF-8 of <see cref="Text"/>.</summary>
    public IReadOnlyList<byte>? Bytes { get; init; }
}

/// <summary>One alternative at a position: its id, text and log-prob.</summary>
public sealed record TokenAlternative(int Id, string Text, double LogProb)
{
    /// <summary>As <see cref="ScoredToken.Bytes"/>.</summary>
    public IReadOnlyList<byte>? Bytes { get; init; }
}

/// <summary>
/// A piece of a generated answer: new text (possibly empty) and the tokens generated since the
/// piece before (with log-probs when asked for). The last piece has <see cref="FinishReason"/>
/// (<c>stop</c>: an end token or a stop sequence, <c>length</c>: the token limit or the context) and the counts.
/// </summary>
public sealed record TokenPiece(string Text, IReadOnlyList<ScoredToken> Tokens)
{
    public string? FinishReason { get; init; }

    public int PromptTokens { get; init; }

    public int CompletionTokens { get; init; }
}
