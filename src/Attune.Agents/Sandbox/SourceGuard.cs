using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Attune.Agents.Sandbox;

/// <summary>One reason a tool source was refused, with its 1-based line.</summary>
public sealed record GuardViolation(int Line, string Message)
{
    public override string ToString() => $"line {Line}: {Message}";
}

/// <summary>
/// The semantic allow-list check that tool code passes before it is compiled: every type,
/// member, local, parameter and expression type the source touches is resolved with Roslyn's
/// semantic model and must belong to a short list of pure-computation namespaces and types
/// (primitives, <see cref="Math"/>, strings, collections, LINQ to objects, BigInteger, …).
/// Everything else — file system, network, processes, reflection, interop, threads, the
/// environment, the GC, the console — is refused, and so are the constructs that escape the
/// type system: <c>unsafe</c>, pointers, <c>stackalloc</c>, <c>fixed</c>, <c>extern</c>,
/// attributes (so no <c>DllImport</c>), <c>dynamic</c>, <c>lock</c>, finalizers,
/// <c>__makeref</c>/<c>__arglist</c>, <c>typeof</c> and expression trees.
/// The check is defence in depth: the code then runs out of process under resource limits.
/// </summary>
public static class SourceGuard
{
    /// <summary>Namespaces whose types are all allowed (exactly these; not their children), less <see cref="DeniedTypes"/>.</summary>
    public static readonly IReadOnlySet<string> AllowedNamespaces = new HashSet<string>(StringComparer.Ordinal)
    {
        "System.Collections.Generic", "System.Collections", "System.Linq", "System.Text", "System.Numerics",
        "System.Text.RegularExpressions", "System.Globalization",
    };

    /// <summary>Types of the <c>System</c> namespace (metadata names) that are allowed.</summary>
    public static readonly IReadOnlySet<string> AllowedSystemTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Object", "String", "Char", "Boolean", "Byte", "SByte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
        "Int128", "UInt128", "Single", "Double", "Decimal", "Half", "Void", "Math", "MathF", "Nullable`1", "Array",
        "Span`1", "ReadOnlySpan`1", "Index", "Range", "StringComparison", "StringComparer", "StringSplitOptions",
        "MidpointRounding", "Convert", "Random", "Enum", "ValueType",
        "Func`1", "Func`2", "Func`3", "Func`4", "Func`5", "Func`6", "Action", "Action`1", "Action`2", "Action`3", "Action`4",
        "Predicate`1", "Comparison`1", "Converter`2",
        "Tuple`1", "Tuple`2", "Tuple`3", "Tuple`4", "Tuple`5", "ValueTuple", "ValueTuple`1", "ValueTuple`2", "ValueTuple`3",
        "ValueTuple`4", "ValueTuple`5", "ValueTuple`6", "ValueTuple`7", "ValueTuple`8",
        "IComparable", "IComparable`1", "IEquatable`1", "IFormatProvider", "IFormattable",
        "Exception", "ArgumentException", "ArgumentNullException", "ArgumentOutOfRangeException", "InvalidOperationException",
        "DivideByZeroException", "FormatException", "OverflowException", "NotSupportedException", "NotImplementedException",
        "IndexOutOfRangeException", "ArithmeticException",
    };

    /// <summary>Types inside allowed namespaces that are still refused (parallelism, expression trees, IQueryable).</summary>
    public static readonly IReadOnlySet<string> DeniedTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "System.Linq.ParallelEnumerable", "System.Linq.ParallelQuery", "System.Linq.ParallelQuery`1", "System.Linq.Queryable",
        "System.Linq.IQueryable", "System.Linq.IQueryable`1", "System.Linq.IOrderedQueryable`1", "System.Linq.IQueryProvider",
        "System.Text.EncodingProvider",
    };

    /// <summary>Members of allowed types that are refused anyway (their declaring type's full name + "." + member).</summary>
    public static readonly IReadOnlySet<string> DeniedMembers = new HashSet<string>(StringComparer.Ordinal)
    {
        "System.Object.GetType", "System.Object.MemberwiseClone", "System.Text.Encoding.RegisterProvider",
        "System.Text.RegularExpressions.Regex.CacheSize",
    };

    /// <summary>The violations in <paramref name="compilation"/>'s trees (empty: allowed).</summary>
    public static IReadOnlyList<GuardViolation> Check(CSharpCompilation compilation)
    {
        ArgumentNullException.ThrowIfNull(compilation);
        var found = new List<GuardViolation>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            new Walker(model, compilation.Assembly, found).Visit(tree.GetRoot());
        }

        return [.. found.Distinct().OrderBy(v => v.Line).Take(20)];
    }

    private sealed class Walker(SemanticModel model, IAssemblySymbol self, List<GuardViolation> found) : CSharpSyntaxWalker(SyntaxWalkerDepth.Token)
    {
        public override void Visit(SyntaxNode? node)
        {
            if (node is null)
            {
                return;
            }

            if (Forbidden(node) is { } why)
            {
                Add(node, why);
            }
            else
            {
                CheckSemantics(node);
            }

            base.Visit(node);
        }

        public override void VisitToken(SyntaxToken token)
        {
            if (token.IsKind(SyntaxKind.UnsafeKeyword) || token.IsKind(SyntaxKind.ExternKeyword) || token.IsKind(SyntaxKind.VolatileKeyword))
            {
                Add(token.GetLocation(), $"'{token.Text}' is not allowed");
            }

            base.VisitToken(token);
        }

        private static string? Forbidden(SyntaxNode node) => node switch
        {
            AttributeListSyntax => "attributes are not allowed (no DllImport, no interop, no layout control)",
            PointerTypeSyntax or FunctionPointerTypeSyntax => "pointer types are not allowed",
            FixedStatementSyntax => "'fixed' is not allowed",
            StackAllocArrayCreationExpressionSyntax or ImplicitStackAllocArrayCreationExpressionSyntax => "'stackalloc' is not allowed",
            LockStatementSyntax => "'lock' is not allowed (no threads)",
            DestructorDeclarationSyntax => "finalizers are not allowed",
            TypeOfExpressionSyntax => "'typeof' is not allowed (no reflection)",
            QueryExpressionSyntax => "query syntax is not allowed; use LINQ method calls",
            RefValueExpressionSyntax or RefTypeExpressionSyntax or MakeRefExpressionSyntax => "typed references are not allowed",
            ExternAliasDirectiveSyntax => "'extern alias' is not allowed",
            AwaitExpressionSyntax => "'await' is not allowed (no tasks or threads)",
            _ when node.IsKind(SyntaxKind.ArgListExpression) => "'__arglist' is not allowed",
            _ => null,
        };

        private void CheckSemantics(SyntaxNode node)
        {
            switch (node)
            {
                case UsingDirectiveSyntax or NamespaceDeclarationSyntax or FileScopedNamespaceDeclarationSyntax or QualifiedNameSyntax
                    when node is not QualifiedNameSyntax || node.Parent is UsingDirectiveSyntax or QualifiedNameSyntax or NamespaceDeclarationSyntax or FileScopedNamespaceDeclarationSyntax:
                    // Naming a namespace is harmless; what is used from it is checked where it is used.
                    if (node is UsingDirectiveSyntax u && u.StaticKeyword.IsKind(SyntaxKind.StaticKeyword) && u.Name is { } name)
                    {
                        CheckSymbol(node, model.GetSymbolInfo(name).Symbol);
                    }

                    return;
            }

            var info = model.GetSymbolInfo(node);
            CheckSymbol(node, info.Symbol);
            foreach (var candidate in info.CandidateSymbols)
            {
                CheckSymbol(node, candidate);
            }

            if (node is ExpressionSyntax)
            {
                var type = model.GetTypeInfo(node);
                CheckSymbol(node, type.Type);
                CheckSymbol(node, type.ConvertedType);
            }

            var declared = model.GetDeclaredSymbol(node);
            if (declared is INamedTypeSymbol declaredType && node is BaseTypeDeclarationSyntax)
            {
                CheckType(node, declaredType.BaseType);
                foreach (var i in declaredType.Interfaces)
                {
                    CheckType(node, i);
                }
            }
            else
            {
                CheckSymbol(node, declared);
            }
        }

        private void CheckSymbol(SyntaxNode node, ISymbol? symbol)
        {
            switch (symbol)
            {
                case null or INamespaceSymbol or ILabelSymbol or IDiscardSymbol or IRangeVariableSymbol or IAliasSymbol:
                    return;
                case ITypeSymbol type:
                    CheckType(node, type);
                    return;
                case IMethodSymbol method:
                    method = method.ReducedFrom ?? method;
                    CheckMember(node, method);
                    CheckType(node, method.ReturnType);
                    foreach (var p in method.Parameters)
                    {
                        CheckType(node, p.Type);
                    }

                    foreach (var t in method.TypeArguments)
                    {
                        CheckType(node, t);
                    }

                    return;
                case IPropertySymbol property:
                    CheckMember(node, property);
                    CheckType(node, property.Type);
                    return;
                case IFieldSymbol field:
                    CheckMember(node, field);
                    CheckType(node, field.Type);
                    return;
                case IEventSymbol ev:
                    CheckMember(node, ev);
                    return;
                case ILocalSymbol local:
                    CheckType(node, local.Type);
                    return;
                case IParameterSymbol parameter:
                    CheckType(node, parameter.Type);
                    return;
                default:
                    Add(node, $"'{symbol.ToDisplayString()}' ({symbol.Kind}) is not allowed");
                    return;
            }
        }

        private void CheckMember(SyntaxNode node, ISymbol member)
        {
            var owner = member.ContainingType;
            if (owner is null)
            {
                return;
            }

            CheckType(node, owner);
            var full = FullName(owner.OriginalDefinition) + "." + member.Name;
            if (DeniedMembers.Contains(full))
            {
                Add(node, $"'{owner.ToDisplayString()}.{member.Name}' is not allowed");
            }
        }

        private void CheckType(SyntaxNode node, ITypeSymbol? type)
        {
            switch (type)
            {
                case null or ITypeParameterSymbol or IErrorTypeSymbol:
                    return;
                case IDynamicTypeSymbol:
                    Add(node, "'dynamic' is not allowed");
                    return;
                case IPointerTypeSymbol or IFunctionPointerTypeSymbol:
                    Add(node, "pointer types are not allowed");
                    return;
                case IArrayTypeSymbol array:
                    CheckType(node, array.ElementType);
                    return;
                case INamedTypeSymbol named:
                    if (SymbolEqualityComparer.Default.Equals(named.ContainingAssembly, self))
                    {
                        foreach (var t in named.TypeArguments)
                        {
                            CheckType(node, t);
                        }

                        return;
                    }

                    var definition = named.OriginalDefinition;
                    if (!Allowed(definition))
                    {
                        Add(node, $"'{definition.ToDisplayString()}' is not on the allow-list");
                    }

                    if (named.ContainingType is { } outer)
                    {
                        CheckType(node, outer);
                    }

                    foreach (var t in named.TypeArguments)
                    {
                        CheckType(node, t);
                    }

                    return;
                default:
                    Add(node, $"type '{type.ToDisplayString()}' is not allowed");
                    return;
            }
        }

        private static bool Allowed(INamedTypeSymbol definition)
        {
            var top = definition;
            while (top.ContainingType is { } outer)
            {
                top = outer;
            }

            var ns = top.ContainingNamespace?.ToDisplayString() ?? "";
            var full = FullName(definition);
            if (DeniedTypes.Contains(full) || DeniedTypes.Contains(FullName(top)))
            {
                return false;
            }

            if (ns == "System")
            {
                return AllowedSystemTypes.Contains(top.MetadataName);
            }

            return AllowedNamespaces.Contains(ns);
        }

        private void Add(SyntaxNode node, string message) => Add(node.GetLocation(), message);

        private void Add(Location location, string message) =>
            found.Add(new GuardViolation(location.GetLineSpan().StartLinePosition.Line + 1, message));
    }

    internal static string FullName(INamedTypeSymbol type)
    {
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() + "." : "";
        var outer = type.ContainingType is { } o ? FullName(o) + "+" : ns;
        return type.ContainingType is null ? ns + type.MetadataName : outer + type.MetadataName;
    }
}
