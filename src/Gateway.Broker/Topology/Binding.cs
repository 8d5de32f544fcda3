using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Gateway.Broker.Messages;

namespace Gateway.Broker.Topology;

/// <summary>What a binding leads to.</summary>
public enum BindingDestinationType
{
    /// <summary>A queue.</summary>
    Queue,
    /// <summary>Another exchange (exchange-to-exchange binding).</summary>
    Exchange,
}

/// <summary>
/// A binding from an exchange to a queue or exchange. Its <see cref="Id"/> is derived from its definition, so the
/// same binding has the same id in every process and after every restart, and binding twice is idempotent.
/// </summary>
public sealed record Binding(
    string Source,
    string Destination,
    BindingDestinationType DestinationType,
    string RoutingKey,
    IReadOnlyDictionary<string, object?>? Arguments)
{
    /// <summary>The stable id: 16 characters of base64url from a SHA-256 of the definition.</summary>
    public string Id { get; } = ComputeId(Source, Destination, DestinationType, RoutingKey, Arguments);

    private static string ComputeId(string source, string destination, BindingDestinationType type, string key,
        IReadOnlyDictionary<string, object?>? arguments)
    {
        var identity = $"{source.Length}:{source}|{(type == BindingDestinationType.Queue ? 'q' : 'e')}|{destination.Length}:{destination}|{key.Length}:{key}|{HeaderValues.Canonical(arguments)}";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(identity), hash);
        return Base64Url.EncodeToString(hash[..12]);
    }
}
