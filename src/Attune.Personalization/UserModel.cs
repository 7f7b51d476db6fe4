using Attune.Core.Errors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>How a user is represented (Li et al. 2024, Section 4).</summary>
public enum UserModelKind
{
    /// <summary>No soft tokens: vanilla DPO / reward modelling through the same code path.</summary>
    None,

    /// <summary>A generic block e0 plus an offset per known user: user i reads e0 + o_i.</summary>
    Individual,

    /// <summary>K prototype blocks mixed by per-user weights: user i reads Σ_k softmax(W_i)_k C_k.</summary>
    Cluster,
}

/// <summary>The settings of a user model.</summary>
public sealed record UserModelOptions
{
    public UserModelKind Kind { get; init; } = UserModelKind.Individual;

    /// <summary>T_u: how many soft tokens a user is (paper and default: 10).</summary>
    public int Tokens { get; init; } = 10;

    /// <summary>K: the number of prototypes of a cluster model.</summary>
    public int Clusters { get; init; } = 2;

    /// <summary>Checks the bounds; a bad value is an <see cref="AttuneInputException"/> naming the option.</summary>
    /// <summary>The largest T_u accepted.</summary>
    public const int MaxTokens = 256;

    /// <summary>The largest K accepted.</summary>
    public const int MaxClusters = 1024;

    public UserModelOptions Validate()
    {
        // Upper bounds: a user's soft tokens sit in front of every prompt (the paper uses T_u = 10), and the
        // cluster logits are a users × K table; past these the memory, not the model, is the limit.
        if (Kind != UserModelKind.None && Tokens is < 1 or > MaxTokens)
        {
            throw new AttuneInputException($"--user-tokens must be between 1 and {MaxTokens} (got {Tokens})");
        }

        if (Kind == UserModelKind.Cluster && Clusters is < 1 or > MaxClusters)
        {
            throw new AttuneInputException($"--clusters must be between 1 and {MaxClusters} (got {Clusters})");
        }

        return this;
    }
}

/// <summary>
/// A user model: maps a user id to T_u soft-token embeddings of the language model's hidden size,
/// placed after BOS and before the prompt. Known users are the ids it was built with; an unknown,
/// empty or null user gets the generic representation (e0, or the uniform mix of the prototypes),
/// which training shapes into the population's behaviour.
/// </summary>
public sealed class UserModel : nn.Module
{
    // Individual: generic [T, E] and offsets [U, T, E]. Cluster: prototypes [K, T, E] and logits [U, K].
    private readonly Parameter? generic;
    private readonly Parameter? offsets;
    private readonly Parameter? prototypes;
    private readonly Parameter? logits;
    private readonly Dictionary<string, int> _rows;

    private UserModel(UserModelOptions options, IReadOnlyList<string> users, int hidden, Parameter? generic, Parameter? offsets, Parameter? prototypes, Parameter? logits)
        : base("user_model")
    {
        Options = options;
        Hidden = hidden;
        Users = [.. users];
        _rows = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < users.Count; i++)
        {
            if (string.IsNullOrEmpty(users[i]) || !_rows.TryAdd(users[i], i))
            {
                throw new ArgumentException($"user ids must be non-empty and distinct ('{users[i]}')", nameof(users));
            }
        }

        this.generic = generic;
        this.offsets = offsets;
        this.prototypes = prototypes;
        this.logits = logits;
        RegisterComponents();
    }

    public UserModelOptions Options { get; }

    /// <summary>The language model's hidden size E.</summary>
    public int Hidden { get; }

    /// <summary>The known users, in row order.</summary>
    public IReadOnlyList<string> Users { get; }

    /// <summary>T_u (0 for <see cref="UserModelKind.None"/>).</summary>
    public int Tokens => Options.Kind == UserModelKind.None ? 0 : Options.Tokens;

    /// <summary>Whether <paramref name="user"/> has a row of its own.</summary>
    public bool Knows(string? user) => user is { Length: > 0 } && _rows.ContainsKey(user);

    /// <summary>
    /// A new user model for <paramref name="users"/>, initialised from randomly chosen rows of the
    /// model's token embeddings <paramref name="tokenEmbeddings"/> [V, E] (seeded): e0 (or each
    /// prototype) copies T_u random rows; offsets start at zero and cluster logits at zero (uniform).
    /// </summary>
    public static UserModel Create(UserModelOptions options, IReadOnlyList<string> users, Tensor tokenEmbeddings, int seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(tokenEmbeddings);
        options.Validate();
        var vocab = (int)tokenEmbeddings.shape[0];
        var hidden = (int)tokenEmbeddings.shape[1];
        var rng = Attune.Core.Randomness.Seeds.Create(seed, 41);
        Tensor Rows(int count)
        {
            var picked = Enumerable.Range(0, count).Select(_ => (long)rng.Next(vocab)).ToArray();
            using var index = tensor(picked, device: tokenEmbeddings.device);
            using (no_grad())
            {
                return tokenEmbeddings.detach().index_select(0, index).to_type(ScalarType.Float32).clone();
            }
        }

        var device = tokenEmbeddings.device;
        var t = options.Tokens;
        return options.Kind switch
        {
            UserModelKind.None => new UserModel(options, users, hidden, null, null, null, null),
            UserModelKind.Individual => new UserModel(options, users, hidden,
                new Parameter(Rows(t)), new Parameter(zeros(users.Count, t, hidden, device: device)), null, null),
            _ => new UserModel(options, users, hidden, null, null,
                new Parameter(Rows(options.Clusters * t).reshape(options.Clusters, t, hidden)), new Parameter(zeros(users.Count, options.Clusters, device: device))),
        };
    }

    /// <summary>
    /// The soft tokens [N, T_u, E] of each user (null, empty or unknown: the generic
    /// representation). For <see cref="UserModelKind.None"/>, [N, 0, E].
    /// </summary>
    public Tensor Embed(IReadOnlyList<string?> users)
    {
        ArgumentNullException.ThrowIfNull(users);
        using var scope = NewDisposeScope();
        var n = users.Count;
        var device = Device;
        if (Options.Kind == UserModelKind.None)
        {
            return zeros(n, 0, Hidden, device: device).MoveToOuterDisposeScope();
        }

        // Row -1 is "generic"; gather known rows, and use a zero offset / uniform weights for the others.
        var rows = users.Select(u => u is { Length: > 0 } && _rows.TryGetValue(u, out var r) ? r : -1).ToArray();
        var known = tensor(rows.Select(r => r >= 0 ? 1f : 0f).ToArray(), device: device);        // [N]
        var index = tensor(rows.Select(r => (long)Math.Max(r, 0)).ToArray(), device: device);      // [N]
        if (Options.Kind == UserModelKind.Individual)
        {
            var offset = Users.Count == 0 ? zeros(n, Tokens, Hidden, device: device)
                : offsets!.index_select(0, index) * known.view(n, 1, 1);                           // [N, T, E]
            return (generic!.unsqueeze(0) + offset).MoveToOuterDisposeScope();
        }

        var k = Options.Clusters;
        var userLogits = Users.Count == 0 ? zeros(n, k, device: device)
            : logits!.index_select(0, index) * known.view(n, 1);                                     // unknown → zeros → uniform
        var weights = userLogits.softmax(1);                                                        // [N, K]
        return einsum("nk,kte->nte", weights, prototypes!).MoveToOuterDisposeScope();
    }

    /// <summary>A cluster model's mixing weights softmax(W_i) for <paramref name="user"/> (uniform when unknown); null for other kinds.</summary>
    public double[]? Weights(string? user)
    {
        if (Options.Kind != UserModelKind.Cluster)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var row = user is { Length: > 0 } && _rows.TryGetValue(user, out var r) ? logits![r] : zeros(Options.Clusters);
        return [.. row.to_type(ScalarType.Float64).softmax(0).data<double>()];
    }

    /// <summary>The device its parameters live on.</summary>
    public Device Device => (generic ?? prototypes)?.device ?? CPU;

    /// <summary>The parameters by name, for saving (<c>user_model.safetensors</c>).</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Add(string name, Parameter? p)
        {
            if (p is not null)
            {
                result[name] = p;
            }
        }

        Add("generic", generic);
        Add("offsets", offsets);
        Add("prototypes", prototypes);
        Add("logits", logits);
        return result;
    }

    /// <summary>A user model with these options, users and tensors (as <see cref="Tensors"/> gives them).</summary>
    public static UserModel FromTensors(UserModelOptions options, IReadOnlyList<string> users, int hidden, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tensors);
        options.Validate();
        Parameter? Take(string name, params long[] shape)
        {
            if (!tensors.TryGetValue(name, out var t))
            {
                throw new AttuneInputException($"missing tensor '{name}'", source);
            }

            if (!t.shape.SequenceEqual(shape))
            {
                throw new AttuneInputException($"tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", shape)}]", source);
            }

            return new Parameter(t.to_type(ScalarType.Float32).clone());
        }

        var (u, tu, k) = ((long)users.Count, (long)options.Tokens, (long)options.Clusters);
        return options.Kind switch
        {
            UserModelKind.None => new UserModel(options, users, hidden, null, null, null, null),
            UserModelKind.Individual => new UserModel(options, users, hidden, Take("generic", tu, hidden), Take("offsets", u, tu, hidden), null, null),
            _ => new UserModel(options, users, hidden, null, null, Take("prototypes", k, tu, hidden), Take("logits", u, k)),
        };
    }
}
