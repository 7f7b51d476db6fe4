using System.Globalization;
using System.Text.Json;
using Attune.Core.Errors;

namespace Attune.Interaction;

/// <summary>
/// Reads a scenario from JSON. Every field is checked: an unknown field, an unknown part type or a
/// parameter out of range is bad input (<see cref="AttuneInputException"/>) naming the file and the
/// field's path, e.g. <c>recommender.type</c> or <c>user_model.rate</c>. See docs/interaction.md
/// for the schema; examples/interaction/ has complete files.
/// </summary>
public static class ScenarioReader
{
    public static readonly string[] UserModels = ["static", "biased_assimilation", "drift", "satiation", "boredom", "opinion_drift"];

    public static readonly string[] Recommenders =
        ["random", "popularity", "oracle", "content_filtering", "matrix_factorisation", "epsilon_greedy", "ucb", "thompson", "softmax", "mass_media", "stationarity_preserving"];

    public static readonly string[] CreatorModels = ["exposure_game", "supply_side"];

    public static readonly string[] MetricNames = ["polarization", "homogenization", "diversity", "engagement", "creators", "drift"];

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static Scenario Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new AttuneInputException("no such scenario file", path);
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses scenario JSON; <paramref name="file"/> names it in errors.</summary>
    public static Scenario Parse(string json, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not valid JSON: {Attune.Core.IO.JsonFile.Describe(ex)}", file, (ex.LineNumber ?? 0) + 1);
        }

        using (doc)
        {
            var root = new Params(doc.RootElement, "", file);
            var s = new Scenario
            {
                Name = root.String("name", Path.GetFileNameWithoutExtension(file)),
                Seed = root.Integer("seed", Attune.Core.Randomness.Seeds.Default, int.MinValue, int.MaxValue),
                Users = root.Integer("users", 100, 2, 10_000_000),
                Items = root.Integer("items", 100, 1, 10_000_000),
                Dimension = root.Integer("dimension", 8, 1, 4096),
                Topics = root.Integer("topics", 1, 1, 100_000),
                Horizon = root.Integer("horizon", 100, 1, 100_000_000),
                Threads = root.Integer("threads", 0, 0, 1024),
            };
            s.SlateSize = root.Integer("slate", Math.Min(10, s.Items), 1, s.Items);
            if (root.Object("initial") is { } init)
            {
                if (init.Has("users"))
                {
                    s.UserInit = ReadInit(init.Part("users"));
                }

                if (init.Has("items"))
                {
                    s.ItemInit = ReadInit(init.Part("items"));
                }

                init.Done();
            }

            if (root.Has("user_model"))
            {
                var (f, d) = ReadUserModel(root.Part("user_model"), s);
                s.UserModel = f;
                s.Description["user_model"] = d;
            }
            else
            {
                s.Description["user_model"] = "static";
            }

            if (root.Object("choice") is { } choice)
            {
                s.Choice = ReadChoice(choice);
            }

            s.Description["choice"] = Describe(s.Choice);
            if (root.Has("recommender"))
            {
                var (f, d) = ReadRecommender(root.Part("recommender"));
                s.Recommender = f;
                s.Description["recommender"] = d;
            }
            else
            {
                s.Description["recommender"] = "random";
            }

            if (root.Has("compare"))
            {
                var (f, d) = ReadRecommender(root.Part("compare"));
                s.Compare = f;
                s.Description["compare"] = d;
            }

            if (root.Has("creators"))
            {
                var (f, d) = ReadCreators(root.Part("creators"));
                s.Creators = f;
                s.Description["creators"] = d;
            }

            if (root.Has("metrics"))
            {
                var list = root.Array("metrics");
                var names = new List<string>();
                for (var i = 0; i < list.Count; i++)
                {
                    var (f, d) = ReadMetric(list[i], s);
                    s.Metrics.Add(f);
                    names.Add(d);
                }

                s.Description["metrics"] = string.Join(", ", names);
            }
            else
            {
                foreach (var name in new[] { "homogenization", "engagement", "drift" })
                {
                    s.Metrics.Add(ReadMetric(Params.OfName(name, "metrics", file), s).Factory);
                }

                s.Description["metrics"] = "homogenization, engagement, drift (default)";
            }

            if (root.Has("interventions"))
            {
                var list = root.Array("interventions");
                for (var i = 0; i < list.Count; i++)
                {
                    var p = list[i];
                    var step = p.Integer("step", -1, 0, s.Horizon - 1);
                    if (!p.Has("step"))
                    {
                        throw p.Error("step", "an intervention needs the step at which it happens");
                    }

                    Func<Recommender>? r = null;
                    Func<UserModel>? u = null;
                    ChoiceModel? c = null;
                    var what = new List<string>();
                    if (p.Has("recommender"))
                    {
                        var (f, d) = ReadRecommender(p.Part("recommender"));
                        r = f;
                        what.Add("recommender -> " + d);
                    }

                    if (p.Has("user_model"))
                    {
                        var (f, d) = ReadUserModel(p.Part("user_model"), s);
                        u = f;
                        what.Add("user_model -> " + d);
                    }

                    if (p.Object("choice") is { } ch)
                    {
                        c = ReadChoice(ch);
                        what.Add("choice -> " + Describe(c));
                    }

                    if (what.Count == 0)
                    {
                        throw p.Error("", "an intervention must switch a recommender, user_model or choice");
                    }

                    p.Done();
                    var description = string.Create(CultureInfo.InvariantCulture, $"at step {step}: {string.Join("; ", what)}");
                    s.Interventions.Add(new Intervention { Step = step, Recommender = r, Users = u, Choice = c, Description = description });
                }

                s.Description["interventions"] = string.Join(" | ", s.Interventions.Select(i => i.Description));
            }

            root.Done();
            return s;
        }
    }

    /// <summary>Reads a recommender from a type name or a JSON object (the value of <c>--compare</c>).</summary>
    public static (Func<Recommender> Factory, string Description) ParseRecommender(string text, string source)
    {
        text = text.Trim();
        var json = text.StartsWith('{') ? text : JsonSerializer.Serialize(text);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not valid JSON: {Attune.Core.IO.JsonFile.Describe(ex)}", source);
        }

        using (doc)
        {
            return ReadRecommender(new Params(doc.RootElement, "compare", source, allowString: true));
        }
    }

    private static VectorInit ReadInit(Params p)
    {
        var type = p.Type(["sphere", "gaussian", "dirichlet"]);
        var init = type switch
        {
            "sphere" => new VectorInit(VectorDistribution.Sphere),
            "gaussian" => new VectorInit(VectorDistribution.Gaussian, p.Number("sd", 1, 0, double.MaxValue, lowOpen: true)),
            _ => new VectorInit(VectorDistribution.Dirichlet, p.Number("concentration", 1, 0, 1e6, lowOpen: true)),
        };
        p.Done();
        return init;
    }

    private static (Func<UserModel>, string) ReadUserModel(Params p, Scenario s)
    {
        var type = p.Type(UserModels);
        (Func<UserModel>, string) result;
        switch (type)
        {
            case "static":
            {
                var sigma = p.Number("idiosyncrasy", 0, 0, 1e6);
                result = (() => new StaticUsers(sigma), Inv($"static(idiosyncrasy={sigma})"));
                break;
            }

            case "biased_assimilation":
            {
                var eta = p.Number("eta", 0.1, 0, 1e6);
                result = (() => new BiasedAssimilation(eta), Inv($"biased_assimilation(eta={eta})"));
                break;
            }

            case "drift":
            {
                var rate = p.Number("rate", 0.1, 0, 1);
                result = (() => new DriftTowardItem(rate), Inv($"drift(rate={rate})"));
                break;
            }

            case "satiation":
            {
                var gamma = p.Numbers("gamma", [0.5], 0, 1, s.Topics);
                var lambda = p.Numbers("lambda", [1.0], 0, 1e6, s.Topics);
                var baseReward = p.Has("base") ? p.Numbers("base", [], -1e9, 1e9, s.Topics, exactly: true) : null;
                result = (() => new SatiationUsers(gamma, lambda, baseReward),
                    Inv($"satiation(gamma=[{string.Join(", ", gamma)}], lambda=[{string.Join(", ", lambda)}]{(baseReward is null ? "" : $", base=[{string.Join(", ", baseReward)}]")})"));
                break;
            }

            case "boredom":
            {
                var history = p.Integer("history", 5, 1, 100_000);
                var threshold = p.Integer("threshold", 3, 1, history);
                var penalty = p.Number("penalty", 0.5, 0, 1e6);
                var sens = p.Number("sensitisation", 0.0, -1e6, 1e6);
                result = (() => new BoredomSensitisation(history, threshold, penalty, sens),
                    Inv($"boredom(history={history}, threshold={threshold}, penalty={penalty}, sensitisation={sens})"));
                break;
            }

            default:
            {
                var eta = p.Number("eta", 0.5, 0, 1);
                result = (() => new OpinionDrift(eta), Inv($"opinion_drift(eta={eta})"));
                break;
            }
        }

        p.Done();
        return result;
    }

    private static ChoiceModel ReadChoice(Params p)
    {
        var noise = RatingNoise.Gaussian;
        double sd = 0.1, kappa = 20;
        if (p.Has("rating"))
        {
            var r = p.Part("rating");
            var type = r.Type(["none", "gaussian", "beta"]);
            noise = type switch { "none" => RatingNoise.None, "gaussian" => RatingNoise.Gaussian, _ => RatingNoise.Beta };
            if (noise == RatingNoise.Gaussian)
            {
                sd = r.Number("sd", 0.1, 0, 1e6);
            }

            if (noise == RatingNoise.Beta)
            {
                kappa = r.Number("concentration", 20, 0, 1e9, lowOpen: true);
            }

            r.Done();
        }

        var c = new ChoiceModel
        {
            Attention = p.Number("attention", 0, 0, 100),
            Temperature = p.Number("temperature", 0, 0, 1e6),
            OutsideOption = p.Has("outside") && !p.IsNull("outside") ? p.Number("outside", 0, -1e9, 1e9) : null,
            Repeat = p.Bool("repeat", true),
            Noise = noise,
            NoiseScale = sd,
            Concentration = kappa,
        };
        p.Done();
        return c;
    }

    private static string Describe(ChoiceModel c) => Inv(
        $"choice(attention={c.Attention}, temperature={c.Temperature}, outside={(c.OutsideOption is { } o ? o.ToString(CultureInfo.InvariantCulture) : "none")}, rating={c.Noise.ToString().ToLowerInvariant()}, repeat={c.Repeat.ToString().ToLowerInvariant()})");

    private static (Func<Recommender> Factory, string Description) ReadRecommender(Params p)
    {
        var type = p.Type(Recommenders);
        (Func<Recommender>, string) result;
        switch (type)
        {
            case "random":
                result = (() => new RandomRecommender(), "random");
                break;
            case "popularity":
                result = (() => new PopularityRecommender(), "popularity");
                break;
            case "oracle":
                result = (() => new OracleRecommender(), "oracle");
                break;
            case "content_filtering":
            {
                var every = p.Integer("every", 1, 1, int.MaxValue);
                var ridge = p.Number("ridge", 1e-6, 0, 1e9);
                result = (() => new ContentFiltering(every, ridge), Inv($"content_filtering(every={every}, ridge={ridge})"));
                break;
            }

            case "matrix_factorisation":
            {
                var rank = p.Integer("rank", 8, 1, 1024);
                var ridge = p.Number("ridge", 0.1, 0, 1e9, lowOpen: true);
                var every = p.Integer("every", 10, 1, int.MaxValue);
                var iterations = p.Integer("iterations", 3, 1, 1000);
                var startup = p.Integer("startup", 10, 0, int.MaxValue);
                result = (() => new MatrixFactorisation(rank, ridge, every, iterations, startup),
                    Inv($"matrix_factorisation(rank={rank}, ridge={ridge}, every={every}, iterations={iterations}, startup={startup})"));
                break;
            }

            case "epsilon_greedy":
            {
                var eps = p.Number("epsilon", 0.1, 0, 1);
                var prior = p.Number("prior", 0, -1e9, 1e9);
                result = (() => new BanditRecommender(BanditRule.EpsilonGreedy, eps, prior), Inv($"epsilon_greedy(epsilon={eps})"));
                break;
            }

            case "ucb":
            {
                var c = p.Number("c", 1, 0, 1e9);
                result = (() => new BanditRecommender(BanditRule.Ucb, c, 0), Inv($"ucb(c={c})"));
                break;
            }

            case "thompson":
            {
                var sigma = p.Number("sigma", 1, 0, 1e9, lowOpen: true);
                var prior = p.Number("prior", 0, -1e9, 1e9);
                result = (() => new BanditRecommender(BanditRule.Thompson, sigma, prior), Inv($"thompson(sigma={sigma})"));
                break;
            }

            case "softmax":
            {
                var temperature = p.Number("temperature", 1, 0, 1e9, lowOpen: true);
                var (inner, d) = p.Has("base") ? ReadRecommender(p.Part("base")) : (() => new OracleRecommender(), "oracle");
                result = (() => new SoftmaxRecommender(inner(), temperature), Inv($"softmax(temperature={temperature}, base={d})"));
                break;
            }

            case "mass_media":
            {
                var feed = p.Choice("feed", "random", ["random", "popular", "axis"]);
                var axis = p.Has("axis") ? p.Numbers("axis", [], -1e9, 1e9, -1).Select(x => (float)x).ToArray() : null;
                var source = feed switch { "random" => FeedSource.Random, "popular" => FeedSource.Popular, _ => FeedSource.Axis };
                result = (() => new MassMediaRecommender(source, axis), Inv($"mass_media(feed={feed})"));
                break;
            }

            default:
            {
                var w = p.Number("relevance", 1e-3, 0, 1e9);
                result = (() => new StationarityPreserving(w), Inv($"stationarity_preserving(relevance={w})"));
                break;
            }
        }

        p.Done();
        return result;
    }

    private static (Func<CreatorModel>, string) ReadCreators(Params p)
    {
        var type = p.Type(CreatorModels);
        (Func<CreatorModel>, string) result;
        if (type == "exposure_game")
        {
            var tau = p.Number("temperature", 0.1, 0, 1e9, lowOpen: true);
            var dyn = p.Choice("dynamics", "gradient", ["gradient", "best_response"]);
            var lr = p.Number("learning_rate", 0.1, 0, 1e9);
            var candidates = p.Integer("candidates", 64, 1, 1_000_000);
            var every = p.Integer("every", 1, 1, int.MaxValue);
            var dynamics = dyn == "gradient" ? CreatorDynamics.Gradient : CreatorDynamics.BestResponse;
            result = (() => new ExposureGame(tau, dynamics, lr, candidates, every), Inv($"exposure_game(temperature={tau}, dynamics={dyn})"));
        }
        else
        {
            var cost = p.Number("cost", 1, 0, 1e9);
            var exponent = p.Number("exponent", 2, 0, 100);
            var candidates = p.Integer("candidates", 32, 1, 1_000_000);
            var norms = p.Numbers("norms", [0.25, 0.5, 1, 1.5, 2], 0, 1e9, -1);
            var every = p.Integer("every", 1, 1, int.MaxValue);
            result = (() => new SupplySideCompetition(cost, exponent, candidates, norms, every), Inv($"supply_side(cost={cost}, exponent={exponent})"));
        }

        p.Done();
        return result;
    }

    private static (Func<Metric> Factory, string Description) ReadMetric(Params p, Scenario s)
    {
        var type = p.Type(MetricNames);
        (Func<Metric>, string) result;
        switch (type)
        {
            case "polarization":
            {
                var axis = p.Has("axis") ? p.Numbers("axis", [], -1e9, 1e9, s.Dimension, exactly: true).Select(x => (float)x).ToArray() : null;
                result = (() => new PolarizationMetric(axis), axis is null ? "polarization(axis=pc1)" : "polarization(axis=given)");
                break;
            }

            case "homogenization":
            {
                var pairs = p.Choice("pairs", "random", ["random", "nearest", "all"]);
                var mode = pairs switch { "random" => PairMode.Random, "nearest" => PairMode.Nearest, _ => PairMode.All };
                result = (() => new HomogenizationMetric(mode), $"homogenization(pairs={pairs})");
                break;
            }

            case "diversity":
                result = (() => new DiversityMetric(), "diversity");
                break;
            case "engagement":
                result = (() => new EngagementMetric(), "engagement");
                break;
            case "creators":
                result = (() => new CreatorMetric(), "creators");
                break;
            default:
                result = (() => new DriftMetric(), "drift");
                break;
        }

        p.Done();
        return result;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A JSON object being read, with its path for error messages and the fields used so far.</summary>
    private sealed class Params
    {
        private readonly JsonElement _e;
        private readonly string _file;
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private readonly string? _typeOnly;

        public Params(JsonElement e, string path, string file, bool allowString = false)
        {
            _file = file;
            Path = path;
            if (allowString && e.ValueKind == JsonValueKind.String)
            {
                _typeOnly = e.GetString();
                return;
            }

            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException($"expected an object{(allowString ? " or a type name" : "")}, got {Kind(e)}", file, null, path.Length == 0 ? "(root)" : path);
            }

            _e = e;
        }

        public string Path { get; }

        public static Params OfName(string name, string path, string file)
        {
            using var doc = JsonDocument.Parse(JsonSerializer.Serialize(name));
            return new Params(doc.RootElement.Clone(), path, file, allowString: true);
        }

        private string FieldPath(string name) => Path.Length == 0 ? name : name.Length == 0 ? Path : $"{Path}.{name}";

        public AttuneInputException Error(string name, string detail) => new(detail, _file, null, FieldPath(name));

        public bool Has(string name)
        {
            _seen.Add(name);
            return _typeOnly is null && _e.TryGetProperty(name, out _);
        }

        public bool IsNull(string name) => Has(name) && _e.GetProperty(name).ValueKind == JsonValueKind.Null;

        private bool TryGet(string name, out JsonElement value)
        {
            _seen.Add(name);
            value = default;
            return _typeOnly is null && _e.TryGetProperty(name, out value);
        }

        public string Type(IReadOnlyList<string> known)
        {
            string? type;
            if (_typeOnly is not null)
            {
                type = _typeOnly;
            }
            else
            {
                if (!TryGet("type", out var v))
                {
                    throw Error("type", $"missing; known: {string.Join(", ", known)}");
                }

                if (v.ValueKind != JsonValueKind.String)
                {
                    throw Error("type", $"expected a string, got {Kind(v)}");
                }

                type = v.GetString();
            }

            if (type is null || !known.Contains(type))
            {
                throw Error("type", $"unknown part '{type}'; known: {string.Join(", ", known)}");
            }

            return type;
        }

        public string String(string name, string fallback)
        {
            if (!TryGet(name, out var v))
            {
                return fallback;
            }

            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(name, $"expected a string, got {Kind(v)}");
        }

        public string Choice(string name, string fallback, IReadOnlyList<string> known)
        {
            var value = String(name, fallback);
            return known.Contains(value) ? value : throw Error(name, $"unknown value '{value}'; known: {string.Join(", ", known)}");
        }

        public bool Bool(string name, bool fallback)
        {
            if (!TryGet(name, out var v))
            {
                return fallback;
            }

            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(name, $"expected true or false, got {Kind(v)}"),
            };
        }

        public double Number(string name, double fallback, double min, double max, bool lowOpen = false)
        {
            if (!TryGet(name, out var v))
            {
                return fallback;
            }

            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x))
            {
                throw Error(name, $"expected a number, got {Kind(v)}");
            }

            Check(name, x, min, max, lowOpen);
            return x;
        }

        private void Check(string name, double x, double min, double max, bool lowOpen)
        {
            if (x < min || x > max || (lowOpen && x <= min))
            {
                var range = Inv($"{(lowOpen ? "(" : "[")}{Bound(min)}, {Bound(max)}]");
                throw Error(name, Inv($"must be in {range}, got {x}"));
            }
        }

        private static string Bound(double x) => x >= int.MaxValue ? "inf" : x <= int.MinValue ? "-inf" : x.ToString(CultureInfo.InvariantCulture);

        public int Integer(string name, int fallback, int min, int max)
        {
            if (!TryGet(name, out var v))
            {
                return fallback;
            }

            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var x))
            {
                throw Error(name, $"expected an integer, got {Kind(v)}");
            }

            if (x < min || x > max)
            {
                throw Error(name, Inv($"must be in [{min}, {max}], got {x}"));
            }

            return x;
        }

        /// <summary>A number (broadcast) or an array of numbers; <paramref name="length"/> −1 means any length.</summary>
        public double[] Numbers(string name, double[] fallback, double min, double max, int length, bool exactly = false)
        {
            if (!TryGet(name, out var v))
            {
                return fallback;
            }

            double[] values;
            if (v.ValueKind == JsonValueKind.Number && !exactly)
            {
                values = [Number(name, 0, min, max)];
            }
            else if (v.ValueKind == JsonValueKind.Array)
            {
                values = new double[v.GetArrayLength()];
                var i = 0;
                foreach (var x in v.EnumerateArray())
                {
                    if (x.ValueKind != JsonValueKind.Number || !x.TryGetDouble(out var d) || !double.IsFinite(d))
                    {
                        throw Error(Inv($"{name}[{i}]"), $"expected a number, got {Kind(x)}");
                    }

                    Check(Inv($"{name}[{i}]"), d, min, max, false);
                    values[i++] = d;
                }

                if (length >= 0 && values.Length != length && (exactly || values.Length != 1))
                {
                    throw Error(name, Inv($"expected {length} numbers{(exactly ? "" : " (or one)")}, got {values.Length}"));
                }

                if (values.Length == 0)
                {
                    throw Error(name, "expected at least one number");
                }
            }
            else
            {
                throw Error(name, $"expected {(exactly ? "an array of numbers" : "a number or an array of numbers")}, got {Kind(v)}");
            }

            return values;
        }

        public Params? Object(string name)
        {
            if (!TryGet(name, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            return new Params(v, FieldPath(name), _file);
        }

        /// <summary>A part: an object with "type" or just a type name.</summary>
        public Params Part(string name)
        {
            TryGet(name, out var v);
            return new Params(v, FieldPath(name), _file, allowString: true);
        }

        public List<Params> Array(string name)
        {
            if (!TryGet(name, out var v))
            {
                return [];
            }

            if (v.ValueKind != JsonValueKind.Array)
            {
                throw Error(name, $"expected an array, got {Kind(v)}");
            }

            var list = new List<Params>();
            var i = 0;
            foreach (var x in v.EnumerateArray())
            {
                list.Add(new Params(x, Inv($"{FieldPath(name)}[{i++}]"), _file, allowString: true));
            }

            return list;
        }

        /// <summary>Every field must have been read: anything else is an unknown field (a typo).</summary>
        public void Done()
        {
            if (_typeOnly is not null)
            {
                return;
            }

            foreach (var property in _e.EnumerateObject())
            {
                if (!_seen.Contains(property.Name))
                {
                    var known = _seen.Count == 0 ? "(none)" : string.Join(", ", _seen.Order(StringComparer.Ordinal));
                    throw Error(property.Name, $"unknown field; known here: {known}");
                }
            }
        }

        private static string Kind(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Undefined => "nothing",
            JsonValueKind.Number => e.GetRawText(),
            JsonValueKind.String => $"\"{e.GetString()}\"",
            _ => e.ValueKind.ToString().ToLowerInvariant(),
        };
    }
}
