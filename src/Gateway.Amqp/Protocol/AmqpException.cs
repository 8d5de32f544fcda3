using System.Runtime.CompilerServices;

namespace Gateway.Amqp.Protocol;

/// <summary>
/// A refusal that ends a channel (soft: <see cref="IsConnectionError"/> false, answered with channel.close) or the whole
/// connection (hard: connection.close), with the spec's reply code and the method that caused it.
/// </summary>
public sealed class AmqpException(ushort replyCode, string text, bool isConnectionError, uint method = 0) : Exception(text)
{
    /// <summary>The spec's reply code (see <see cref="ReplyCode"/>).</summary>
    public ushort ReplyCode { get; } = replyCode;

    /// <summary>True for a connection error, false for a channel error.</summary>
    public bool IsConnectionError { get; } = isConnectionError;

    /// <summary>The (class &lt;&lt; 16 | method) id of the method that failed, or 0.</summary>
    public uint Method { get; internal set; } = method;

    /// <summary>A channel error.</summary>
    public static AmqpException Channel(ushort code, string text) => new(code, text, isConnectionError: false);

    /// <summary>A connection error.</summary>
    public static AmqpException Connection(ushort code, string text) => new(code, text, isConnectionError: true);

    /// <summary>Throws 502 syntax-error: a frame whose fields do not parse.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowSyntax(string what) => throw Connection(Protocol.ReplyCode.SyntaxError, "SYNTAX_ERROR - " + what);
}
