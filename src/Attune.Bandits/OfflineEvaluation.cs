using System.Text.Json.Serialization;

namespace Attune.Bandits;

/// <summary>One logged decision: the arm shown, its reward in [0, 1], and the logging policy's probability of that arm.</summary>
public readonly record struct LoggedStep(int Arm, double Reward, double Propensity);

/// <summary>An off-policy estimate of a policy's mean reward per round.</summary>
public sealed record OfflineEstimate(
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("used")] int Used,
    [property: JsonPropertyName("logged")] int Logged);

/// <summary>
/// Offline evaluation of bandit policies from logged responses. <see cref="Replay"/> is the
/// rejection-sampling replay method of Li, Chu, Langford &amp; Wang (2011): it is unbiased when the
/// log was collected by uniformly random arms. <see cref="InversePropensity"/> weights each logged
/// reward by π_t(a_t)/μ_t(a_t) (Horvitz–Thompson) and also gives the self-normalised variant; the
/// target policy learns from the logged history as it would online.
/// </summary>
public static class OfflineEvaluation
{
    /// <summary>Replay: walk the log; where the policy picks the logged arm, count the reward and update the policy.</summary>
    public static OfflineEstimate Replay(IBanditPolicy policy, IReadOnlyList<LoggedStep> log, Random rng)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(log);
        double total = 0;
        var used = 0;
        foreach (var step in log)
        {
            if (policy.SelectArm(rng) != step.Arm)
            {
                continue;
            }

            policy.Update(step.Arm, step.Reward);
            total += step.Reward;
            used++;
        }

        return new OfflineEstimate("replay", used == 0 ? double.NaN : total / used, used, log.Count);
    }

    /// <summary>IPS and self-normalised IPS estimates; the policy is updated with every logged step in order.</summary>
    public static (OfflineEstimate Ips, OfflineEstimate Snips) InversePropensity(IBanditPolicy policy, IReadOnlyList<LoggedStep> log, Random rng, int draws = 2000)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(log);
        double weighted = 0, weights = 0;
        foreach (var step in log)
        {
            if (step.Propensity <= 0 || step.Propensity > 1)
            {
                throw new ArgumentException($"logged propensity {step.Propensity} is not in (0, 1]", nameof(log));
            }

            var target = policy.Probabilities(rng, draws)[step.Arm];
            var w = target / step.Propensity;
            weighted += w * step.Reward;
            weights += w;
            policy.Update(step.Arm, step.Reward);
        }

        return (new OfflineEstimate("ips", log.Count == 0 ? double.NaN : weighted / log.Count, log.Count, log.Count),
                new OfflineEstimate("snips", weights == 0 ? double.NaN : weighted / weights, log.Count, log.Count));
    }
}
