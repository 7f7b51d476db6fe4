using Attune.Core.Errors;

namespace Attune.Torch.Training;

/// <summary>How the learning rate moves after warm-up.</summary>
public enum ScheduleKind
{
    /// <summary>The peak rate throughout (after warm-up).</summary>
    Constant,

    /// <summary>Half a cosine from the peak down to the floor at the last step.</summary>
    Cosine,

    /// <summary>A straight line from the peak down to the floor at the last step.</summary>
    Linear,
}

/// <summary>
/// A learning-rate schedule over optimizer steps 0 … <see cref="TotalSteps"/> − 1: linear warm-up
/// to <see cref="PeakLr"/> over <see cref="WarmupSteps"/> steps (step s uses peak · (s + 1) / warmup,
/// so no step is wasted at rate 0), then constant, cosine or linear decay reaching
/// <see cref="MinLr"/> (the floor) at the last step. A pure function of the step, so resuming needs
/// only the step count.
/// </summary>
public sealed record LearningRateSchedule(ScheduleKind Kind, double PeakLr, int WarmupSteps, int TotalSteps, double MinLr = 0)
{
    public static ScheduleKind ParseKind(string name) => name.ToLowerInvariant() switch
    {
        "constant" => ScheduleKind.Constant,
        "cosine" => ScheduleKind.Cosine,
        "linear" => ScheduleKind.Linear,
        _ => throw new AttuneInputException($"unknown schedule '{name}' (cosine, linear, constant)"),
    };

    /// <summary>The learning rate of optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps)
        {
            return PeakLr * (step + 1) / WarmupSteps;
        }

        if (Kind == ScheduleKind.Constant)
        {
            return PeakLr;
        }

        var decaySteps = Math.Max(1, TotalSteps - WarmupSteps - 1);
        var progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        var shape = Kind == ScheduleKind.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return MinLr + ((PeakLr - MinLr) * shape);
    }
}
