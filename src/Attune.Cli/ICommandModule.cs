using Attune.Core.Reproductions;

namespace Attune.Cli;

/// <summary>
/// The one registration point of the <c>attune</c> command. Each module adds a class that
/// implements this interface (with a public parameterless constructor) under <c>Commands/</c>;
/// <see cref="CliApp"/> finds every such class by reflection. No central switch lists verbs.
/// </summary>
public interface ICommandModule
{
    /// <summary>Adds this module's verbs (e.g. <c>attune data …</c>) to the root command.</summary>
    void AddCommands(CliApp app);

    /// <summary>The paper experiments this module registers with <c>attune repro</c>.</summary>
    IEnumerable<IReproduction> Reproductions => [];
}
