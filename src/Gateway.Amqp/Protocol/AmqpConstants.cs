namespace Gateway.Amqp.Protocol;

/// <summary>Frame types and the frame-end octet of AMQP 0-9-1 (spec 4.2.3).</summary>
internal static class FrameType
{
    public const byte Method = 1;
    public const byte Header = 2;
    public const byte Body = 3;
    public const byte Heartbeat = 8;
    public const byte End = 0xCE;

    /// <summary>Type octet, channel short and size long.</summary>
    public const int HeaderSize = 7;
    /// <summary>The frame header and the frame-end octet.</summary>
    public const int Overhead = HeaderSize + 1;
}

/// <summary>The reply codes of AMQP 0-9-1 (spec 1.9): channel errors (soft) and connection errors (hard).</summary>
public static class ReplyCode
{
    /// <summary>200 reply-success.</summary>
    public const ushort Success = 200;
    /// <summary>311 content-too-large (soft).</summary>
    public const ushort ContentTooLarge = 311;
    /// <summary>312 no-route: a mandatory message no queue took (basic.return).</summary>
    public const ushort NoRoute = 312;
    /// <summary>320 connection-forced: the server closed the connection (here: its API key was revoked or expired).</summary>
    public const ushort ConnectionForced = 320;
    /// <summary>402 invalid-path.</summary>
    public const ushort InvalidPath = 402;
    /// <summary>403 access-refused (soft).</summary>
    public const ushort AccessRefused = 403;
    /// <summary>404 not-found (soft).</summary>
    public const ushort NotFound = 404;
    /// <summary>405 resource-locked: another connection's exclusive queue (soft).</summary>
    public const ushort ResourceLocked = 405;
    /// <summary>406 precondition-failed (soft).</summary>
    public const ushort PreconditionFailed = 406;
    /// <summary>501 frame-error: a malformed frame.</summary>
    public const ushort FrameError = 501;
    /// <summary>502 syntax-error: a frame whose fields do not parse.</summary>
    public const ushort SyntaxError = 502;
    /// <summary>503 command-invalid: a method that is not valid now.</summary>
    public const ushort CommandInvalid = 503;
    /// <summary>504 channel-error: a channel that is not open, or opened twice.</summary>
    public const ushort ChannelError = 504;
    /// <summary>505 unexpected-frame: a frame out of sequence (e.g. content without a publish).</summary>
    public const ushort UnexpectedFrame = 505;
    /// <summary>506 resource-error.</summary>
    public const ushort ResourceError = 506;
    /// <summary>530 not-allowed: e.g. a vhost the user may not open, or tune values out of range.</summary>
    public const ushort NotAllowed = 530;
    /// <summary>540 not-implemented.</summary>
    public const ushort NotImplemented = 540;
    /// <summary>541 internal-error.</summary>
    public const ushort InternalError = 541;
}

/// <summary>Class ids of AMQP 0-9-1.</summary>
internal static class ClassId
{
    public const ushort Connection = 10;
    public const ushort Channel = 20;
    public const ushort Access = 30;
    public const ushort Exchange = 40;
    public const ushort Queue = 50;
    public const ushort Basic = 60;
    public const ushort Confirm = 85;
    public const ushort Tx = 90;
}

/// <summary>Method ids, as (class &lt;&lt; 16 | method), so that one switch covers them all.</summary>
internal static class MethodId
{
    public const uint ConnectionStart = 10 << 16 | 10, ConnectionStartOk = 10 << 16 | 11, ConnectionSecure = 10 << 16 | 20, ConnectionSecureOk = 10 << 16 | 21,
        ConnectionTune = 10 << 16 | 30, ConnectionTuneOk = 10 << 16 | 31, ConnectionOpen = 10 << 16 | 40, ConnectionOpenOk = 10 << 16 | 41,
        ConnectionClose = 10 << 16 | 50, ConnectionCloseOk = 10 << 16 | 51, ConnectionBlocked = 10 << 16 | 60, ConnectionUnblocked = 10 << 16 | 61,
        ConnectionUpdateSecret = 10 << 16 | 70;

    public const uint ChannelOpen = 20 << 16 | 10, ChannelOpenOk = 20 << 16 | 11, ChannelFlow = 20 << 16 | 20, ChannelFlowOk = 20 << 16 | 21,
        ChannelClose = 20 << 16 | 40, ChannelCloseOk = 20 << 16 | 41;

    public const uint AccessRequest = 30 << 16 | 10, AccessRequestOk = 30 << 16 | 11;

    public const uint ExchangeDeclare = 40 << 16 | 10, ExchangeDeclareOk = 40 << 16 | 11, ExchangeDelete = 40 << 16 | 20, ExchangeDeleteOk = 40 << 16 | 21,
        ExchangeBind = 40 << 16 | 30, ExchangeBindOk = 40 << 16 | 31, ExchangeUnbind = 40 << 16 | 40, ExchangeUnbindOk = 40 << 16 | 51;

    public const uint QueueDeclare = 50 << 16 | 10, QueueDeclareOk = 50 << 16 | 11, QueueBind = 50 << 16 | 20, QueueBindOk = 50 << 16 | 21,
        QueuePurge = 50 << 16 | 30, QueuePurgeOk = 50 << 16 | 31, QueueDelete = 50 << 16 | 40, QueueDeleteOk = 50 << 16 | 41,
        QueueUnbind = 50 << 16 | 50, QueueUnbindOk = 50 << 16 | 51;

    public const uint BasicQos = 60 << 16 | 10, BasicQosOk = 60 << 16 | 11, BasicConsume = 60 << 16 | 20, BasicConsumeOk = 60 << 16 | 21,
        BasicCancel = 60 << 16 | 30, BasicCancelOk = 60 << 16 | 31, BasicPublish = 60 << 16 | 40, BasicReturn = 60 << 16 | 50,
        BasicDeliver = 60 << 16 | 60, BasicGet = 60 << 16 | 70, BasicGetOk = 60 << 16 | 71, BasicGetEmpty = 60 << 16 | 72,
        BasicAck = 60 << 16 | 80, BasicReject = 60 << 16 | 90, BasicRecoverAsync = 60 << 16 | 100, BasicRecover = 60 << 16 | 110,
        BasicRecoverOk = 60 << 16 | 111, BasicNack = 60 << 16 | 120;

    public const uint ConfirmSelect = 85 << 16 | 10, ConfirmSelectOk = 85 << 16 | 11;

    public const uint TxSelect = 90 << 16 | 10, TxSelectOk = 90 << 16 | 11, TxCommit = 90 << 16 | 20, TxCommitOk = 90 << 16 | 21,
        TxRollback = 90 << 16 | 30, TxRollbackOk = 90 << 16 | 31;

    /// <summary>The class id of a combined method id.</summary>
    public static ushort Class(uint method) => (ushort)(method >> 16);

    /// <summary>The method id within its class.</summary>
    public static ushort Method(uint method) => (ushort)method;
}
