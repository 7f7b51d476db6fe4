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
/// semantic model and must be one of the named types of <see cref="AllowedTypes"/> (primitives,
/// <see cref="Math"/>, strings, the ordinary collections, LINQ to objects, StringBuilder, Regex,
/// BigInteger, …; listed one by one, never a whole namespace).
/// Everything else — file system, network, processes, reflection, interop, threads, the
/// environment, the GC, the console, SIMD vectors — is refused, and so are
/// <see cref="DeniedTypes"/> and everything under <c>System.Runtime</c> even if someone adds them
/// to the list, every member whose name contains "Unsafe" or "Dangerous" (they skip the runtime's
/// checks: <c>Vector.LoadUnsafe(ref a[0])</c> reads past an array), <see cref="DeniedMembers"/>,
/// and the constructs that escape the type system or alias memory: <c>unsafe</c>, pointers and
/// function pointers, address-of, <c>stackalloc</c>, <c>fixed</c>, <c>extern</c>, attributes (so
/// no <c>DllImport</c>), <c>dynamic</c>, <c>lock</c>, finalizers, <c>__makeref</c>/<c>__arglist</c>,
/// <c>typeof</c>, expression trees, ref locals, ref returns, ref fields, ref structs and
/// <c>scoped</c>. Plain <c>ref</c>/<c>out</c>/<c>in</c> parameters and arguments stay allowed.
/// The check is defence in depth: the code then runs out of process under resource limits, with
/// an empty environment, no network and no privileges (see <see cref="ToolSandbox"/>).
/// </summary>
public static class SourceGuard
{
    /// <summary>
    /// The types tool code may use, by full metadata name (<c>Namespace.Name`arity</c>, nested
    /// types as <c>Outer+Inner</c>); their generic arguments are checked in turn. Nothing else is
    /// allowed, not even a nested type of a listed type unless it is listed itself.
    /// </summary>
    public static readonly IReadOnlySet<string> AllowedTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        // System: primitives and the pure helpers around them.
        "System.Object", "System.ValueType", "System.Void", "System.String", "System.Char", "System.Boolean",
        "System.Byte", "System.SByte", "System.Int16", "System.UInt16", "System.Int32", "System.UInt32", "System.Int64", "System.UInt64",
        "System.Int128", "System.UInt128", "System.Single", "System.Double", "System.Decimal", "System.Half",
        "System.Math", "System.MathF", "System.Convert", "System.Random", "System.HashCode", "System.Enum", "System.Nullable`1",
        "System.Array", "System.Index", "System.Range",
        // Spans only as what the string and collection methods take (params ReadOnlySpan overloads); no ref-exposing members.
        "System.Span`1", "System.Span`1+Enumerator", "System.ReadOnlySpan`1", "System.ReadOnlySpan`1+Enumerator",
        "System.StringComparison", "System.StringComparer", "System.StringSplitOptions", "System.MidpointRounding",
        "System.IDisposable", "System.IComparable", "System.IComparable`1", "System.IEquatable`1", "System.IFormatProvider", "System.IFormattable",
        "System.Func`1", "System.Func`2", "System.Func`3", "System.Func`4", "System.Func`5", "System.Func`6", "System.Func`7", "System.Func`8",
        "System.Action", "System.Action`1", "System.Action`2", "System.Action`3", "System.Action`4", "System.Action`5", "System.Action`6",
        "System.Predicate`1", "System.Comparison`1", "System.Converter`2",
        "System.Tuple", "System.Tuple`1", "System.Tuple`2", "System.Tuple`3", "System.Tuple`4", "System.Tuple`5", "System.Tuple`6", "System.Tuple`7",
        "System.ValueTuple", "System.ValueTuple`1", "System.ValueTuple`2", "System.ValueTuple`3", "System.ValueTuple`4",
        "System.ValueTuple`5", "System.ValueTuple`6", "System.ValueTuple`7", "System.ValueTuple`8",
        "System.Exception", "System.ArgumentException", "System.ArgumentNullException", "System.ArgumentOutOfRangeException",
        "System.InvalidOperationException", "System.DivideByZeroException", "System.FormatException", "System.OverflowException",
        "System.NotSupportedException", "System.NotImplementedException", "System.IndexOutOfRangeException", "System.ArithmeticException",

        // System.Collections.Generic, with the nested enumerators and key/value views that foreach and .Keys/.Values produce.
        "System.Collections.Generic.List`1", "System.Collections.Generic.List`1+Enumerator",
        "System.Collections.Generic.Dictionary`2", "System.Collections.Generic.Dictionary`2+Enumerator",
        "System.Collections.Generic.Dictionary`2+KeyCollection", "System.Collections.Generic.Dictionary`2+KeyCollection+Enumerator",
        "System.Collections.Generic.Dictionary`2+ValueCollection", "System.Collections.Generic.Dictionary`2+ValueCollection+Enumerator",
        "System.Collections.Generic.HashSet`1", "System.Collections.Generic.HashSet`1+Enumerator",
        "System.Collections.Generic.Queue`1", "System.Collections.Generic.Queue`1+Enumerator",
        "System.Collections.Generic.Stack`1", "System.Collections.Generic.Stack`1+Enumerator",
        "System.Collections.Generic.SortedDictionary`2", "System.Collections.Generic.SortedDictionary`2+Enumerator",
        "System.Collections.Generic.SortedDictionary`2+KeyCollection", "System.Collections.Generic.SortedDictionary`2+KeyCollection+Enumerator",
        "System.Collections.Generic.SortedDictionary`2+ValueCollection", "System.Collections.Generic.SortedDictionary`2+ValueCollection+Enumerator",
        "System.Collections.Generic.SortedList`2", "System.Collections.Generic.SortedSet`1", "System.Collections.Generic.SortedSet`1+Enumerator",
        "System.Collections.Generic.LinkedList`1", "System.Collections.Generic.LinkedList`1+Enumerator", "System.Collections.Generic.LinkedListNode`1",
        "System.Collections.Generic.PriorityQueue`2", "System.Collections.Generic.PriorityQueue`2+UnorderedItemsCollection",
        "System.Collections.Generic.PriorityQueue`2+UnorderedItemsCollection+Enumerator",
        "System.Collections.Generic.KeyValuePair", "System.Collections.Generic.KeyValuePair`2", "System.Collections.Generic.CollectionExtensions",
        "System.Collections.Generic.IEnumerable`1", "System.Collections.Generic.IEnumerator`1", "System.Collections.Generic.ICollection`1",
        "System.Collections.Generic.IList`1", "System.Collections.Generic.IReadOnlyCollection`1", "System.Collections.Generic.IReadOnlyList`1",
        "System.Collections.Generic.IDictionary`2", "System.Collections.Generic.IReadOnlyDictionary`2",
        "System.Collections.Generic.ISet`1", "System.Collections.Generic.IReadOnlySet`1",
        "System.Collections.Generic.IComparer`1", "System.Collections.Generic.IEqualityComparer`1",
        "System.Collections.Generic.Comparer`1", "System.Collections.Generic.EqualityComparer`1",
        "System.Collections.Generic.KeyNotFoundException",

        // System.Collections: the non-generic interfaces arrays and MatchCollection expose, and BitArray.
        "System.Collections.IEnumerable", "System.Collections.IEnumerator", "System.Collections.ICollection", "System.Collections.IList",
        "System.Collections.IComparer", "System.Collections.IEqualityComparer", "System.Collections.IStructuralComparable",
        "System.Collections.IStructuralEquatable", "System.Collections.StructuralComparisons", "System.Collections.BitArray",

        // LINQ to objects (not PLINQ, not IQueryable, not expression trees).
        "System.Linq.Enumerable", "System.Linq.IOrderedEnumerable`1", "System.Linq.IGrouping`2", "System.Linq.ILookup`2", "System.Linq.Lookup`2",

        // Text.
        "System.Text.StringBuilder", "System.Text.StringBuilder+AppendInterpolatedStringHandler", "System.Text.Encoding",
        "System.Text.Rune", "System.Text.NormalizationForm",
        "System.Text.RegularExpressions.Regex", "System.Text.RegularExpressions.RegexOptions", "System.Text.RegularExpressions.Match",
        "System.Text.RegularExpressions.MatchCollection", "System.Text.RegularExpressions.Group", "System.Text.RegularExpressions.GroupCollection",
        "System.Text.RegularExpressions.Capture", "System.Text.RegularExpressions.CaptureCollection",
        "System.Text.RegularExpressions.MatchEvaluator", "System.Text.RegularExpressions.RegexMatchTimeoutException",
        "System.Globalization.CultureInfo", "System.Globalization.NumberStyles", "System.Globalization.NumberFormatInfo",
        "System.Globalization.CompareOptions", "System.Globalization.TextInfo", "System.Globalization.UnicodeCategory",

        // Numbers beyond the primitives (no SIMD: Vector, Vector2/3/4, Matrix*, Quaternion and Plane are left out).
        "System.Numerics.BigInteger", "System.Numerics.Complex", "System.Numerics.BitOperations",
    };

    /// <summary>
    /// Types refused whatever the allow-list says, with the reason given to the tool author:
    /// raw memory, pinning and interop. Everything under <c>System.Runtime</c> (compiler services,
    /// interop, intrinsics, loaders) and every type whose name contains "Unsafe" is refused as well.
    /// </summary>
    public static readonly IReadOnlySet<string> DeniedTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "System.Runtime.CompilerServices.Unsafe", "System.Runtime.InteropServices.MemoryMarshal",
        "System.Runtime.InteropServices.CollectionsMarshal", "System.Runtime.InteropServices.Marshal",
        "System.Runtime.InteropServices.NativeMemory", "System.Runtime.InteropServices.GCHandle", "System.Buffer",
    };

    /// <summary>Members of allowed types that are refused anyway (their declaring type's full name + "." + member).</summary>
    public static readonly IReadOnlySet<string> DeniedMembers = new HashSet<string>(StringComparer.Ordinal)
    {
        "System.Object.GetType", "System.Object.MemberwiseClone", "System.Text.Encoding.RegisterProvider",
        "System.Text.RegularExpressions.Regex.CacheSize",
        // A reference to the first element, the starting point of every pointer trick.
        "System.Span`1.GetPinnableReference", "System.ReadOnlySpan`1.GetPinnableReference", "System.String.GetPinnableReference",
        // Process-wide state: a tool that set them would change the output of every later call in the host.
        "System.Globalization.CultureInfo.CurrentCulture", "System.Globalization.CultureInfo.CurrentUICulture",
        "System.Globalization.CultureInfo.DefaultThreadCurrentCulture", "System.Globalization.CultureInfo.DefaultThreadCurrentUICulture",
    };

    /// <summary>Why a type is refused whatever the allow-list says (null: it is not).</summary>
    internal static string? DeniedBecause(string fullName) =>
        DeniedTypes.Contains(fullName) || fullName.StartsWith("System.Runtime.", StringComparison.Ordinal)
                                       || fullName.Contains("Unsafe", StringComparison.OrdinalIgnoreCase)
            ? "is refused: it reaches raw memory, pinning, interop or runtime internals"
            : null;

    /// <summary>Whether a member name marks an API that skips the runtime's checks (…Unsafe, Dangerous…).</summary>
    internal static bool UncheckedByName(string memberName) =>
        memberName.Contains("Unsafe", StringComparison.OrdinalIgnoreCase) || memberName.Contains("Dangerous", StringComparison.OrdinalIgnoreCase);

    /// <summary>The violations in <paramref name="compilation"/>'s trees (empty: allowed).</summary>
    public static IReadOnlyList<GuardViolation> Check(CSharpCompilation compilation) => Check(compilation, AllowedTypes);

    /// <summary>The same check against another allow-list (the denials still apply): tests widen the list to see that they do.</summary>
    internal static IReadOnlyList<GuardViolation> Check(CSharpCompilation compilation, IReadOnlySet<string> allowedTypes)
    {
        ArgumentNullException.ThrowIfNull(compilation);
        ArgumentNullException.ThrowIfNull(allowedTypes);
        var found = new List<GuardViolation>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            new Walker(model, compilation.Assembly, allowedTypes, found).Visit(tree.GetRoot());
        }

        return [.. found.Distinct().OrderBy(v => v.Line).Take(20)];
    }

    private sealed class Walker(SemanticModel model, IAssemblySymbol self, IReadOnlySet<string> allowedTypes, List<GuardViolation> found) : CSharpSyntaxWalker(SyntaxWalkerDepth.Token)
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
            if (token.IsKind(SyntaxKind.UnsafeKeyword) || token.IsKind(SyntaxKind.ExternKeyword) || token.IsKind(SyntaxKind.VolatileKeyword)
                || token.IsKind(SyntaxKind.ScopedKeyword))
            {
                Add(token.GetLocation(), $"'{token.Text}' is not allowed");
            }

            base.VisitToken(token);
        }

        private static string? Forbidden(SyntaxNode node) => node switch
        {
            AttributeListSyntax => "attributes are not allowed (no DllImport, no interop, no layout control)",
            PointerTypeSyntax or FunctionPointerTypeSyntax => "pointer types are not allowed",
            PrefixUnaryExpressionSyntax when node.IsKind(SyntaxKind.AddressOfExpression) || node.IsKind(SyntaxKind.PointerIndirectionExpression)
                => "pointer operations ('&', '*') are not allowed",
            MemberAccessExpressionSyntax when node.IsKind(SyntaxKind.PointerMemberAccessExpression) => "pointer operations ('->') are not allowed",
            RefTypeSyntax => "ref locals, ref returns and ref fields are not allowed (a reference into an array or object is where memory tricks start)",
            RefExpressionSyntax => "'ref' expressions are not allowed (no ref locals, ref returns or ref reassignment)",
            TypeDeclarationSyntax type when type.Modifiers.Any(SyntaxKind.RefKeyword) => "ref structs are not allowed",
            RefStructConstraintSyntax or AllowsConstraintClauseSyntax => "'allows ref struct' is not allowed",
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
            if (SymbolEqualityComparer.Default.Equals(owner.ContainingAssembly, self))
            {
                return;
            }

            var full = FullName(owner.OriginalDefinition) + "." + member.Name;
            if (UncheckedByName(member.Name))
            {
                Add(node, $"'{owner.OriginalDefinition.ToDisplayString()}.{member.Name}' is refused: members named Unsafe or Dangerous skip the runtime's checks");
            }
            else if (DeniedMembers.Contains(full))
            {
                Add(node, $"'{owner.OriginalDefinition.ToDisplayString()}.{member.Name}' is not allowed");
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
                    var full = FullName(definition);
                    if (DeniedBecause(full) is { } why)
                    {
                        Add(node, $"'{definition.ToDisplayString()}' {why}");
                    }
                    else if (!allowedTypes.Contains(full))
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
