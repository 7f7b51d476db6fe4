using Attune.Core.Reproductions;
using Attune.Core.Statistics;

namespace Attune.Cli.Commands;

/// <summary>Attune.Core's own reproduction: the calibration of the statistics engine.</summary>
public sealed class CoreCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
    }

    public IEnumerable<IReproduction> Reproductions => [new StatsCalibrationReproduction()];
}
