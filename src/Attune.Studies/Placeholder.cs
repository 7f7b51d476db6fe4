namespace Attune.Studies; internal static class Placeholder { }
