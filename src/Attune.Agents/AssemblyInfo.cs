namespace Attune.Agents;
