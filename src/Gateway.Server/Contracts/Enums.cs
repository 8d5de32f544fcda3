using System.Text.Json.Serialization;
using Gateway.Server.Json;

namespace Gateway.Server.Contracts;

/// <summary>How a payload is written in JSON.</summary>
[JsonConverter(typeof(NamedEnumConverter<PayloadEncoding>))]
public enum PayloadEncoding
{
    /// <summary>The payload is the UTF-8 text itself.</summary>
    [JsonStringEnumMemberName("string")] String,
    /// <summary>The payload is base64 (RFC 4648) of the bytes.</summary>
    [JsonStringEnumMemberName("base64")] Base64,
}

/// <summary>How a WebSocket subscription's deliveries travel (docs/websocket-protocol.md).</summary>
[JsonConverter(typeof(NamedEnumConverter<PayloadFormat>))]
public enum PayloadFormat
{
    /// <summary>A JSON text frame, the payload as text or base64 inside it.</summary>
    [JsonStringEnumMemberName("json")] Json,
    /// <summary>A binary frame: a length-prefixed JSON header, then the raw payload bytes.</summary>
    [JsonStringEnumMemberName("binary")] Binary,
}

/// <summary>Whether deliveries must be acknowledged.</summary>
[JsonConverter(typeof(NamedEnumConverter<AckMode>))]
public enum AckMode
{
    /// <summary>Deliveries are leased until acked, nacked or the lease ends.</summary>
    [JsonStringEnumMemberName("manual")] Manual,
    /// <summary>Deliveries are acknowledged once the response carrying them has been written.</summary>
    [JsonStringEnumMemberName("auto")] Auto,
}

/// <summary>Parsing of <see cref="AckMode"/> from a query string, where the framework would only accept C# names.</summary>
public static class AckModes
{
    /// <summary><c>manual</c> (also when absent) or <c>auto</c>; throws an invalid-argument refusal otherwise.</summary>
    public static AckMode Parse(string? text) => text switch
    {
        null or "" or "manual" => AckMode.Manual,
        "auto" => AckMode.Auto,
        _ => throw new Gateway.Broker.BrokerException(Gateway.Broker.BrokerError.InvalidArgument, $"'ackMode' must be 'manual' or 'auto', not '{text}'."),
    };
}

/// <summary>AMQP exchange types.</summary>
[JsonConverter(typeof(NamedEnumConverter<ExchangeKind>))]
public enum ExchangeKind
{
    /// <summary>Exact routing-key match.</summary>
    [JsonStringEnumMemberName("direct")] Direct,
    /// <summary>Every bound destination.</summary>
    [JsonStringEnumMemberName("fanout")] Fanout,
    /// <summary>Dot-separated word patterns: <c>*</c> one word, <c>#</c> zero or more.</summary>
    [JsonStringEnumMemberName("topic")] Topic,
    /// <summary>Header matching by <c>x-match</c>.</summary>
    [JsonStringEnumMemberName("headers")] Headers,
}

/// <summary>What a binding leads to.</summary>
[JsonConverter(typeof(NamedEnumConverter<DestinationKind>))]
public enum DestinationKind
{
    /// <summary>A queue.</summary>
    [JsonStringEnumMemberName("queue")] Queue,
    /// <summary>An exchange.</summary>
    [JsonStringEnumMemberName("exchange")] Exchange,
}
