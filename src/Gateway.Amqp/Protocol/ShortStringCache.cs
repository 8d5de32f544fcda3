namespace Gateway.Amqp.Protocol;

/// <summary>
/// The last short string decoded in one position (a channel's exchange or routing key on basic.publish): the next
/// publish with the same bytes gets the same string instance, without decoding or allocating. Publishers usually send
/// many messages with one exchange and routing key.
/// </summary>
internal sealed class ShortStringCache
{
    private byte[] _bytes = [];
    private string _value = "";

    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.SequenceEqual(_bytes)) return _value;
        var value = utf8.Length == 0 ? "" : AmqpReader.Decode(utf8);
        _bytes = utf8.ToArray();
        _value = value;
        return value;
    }
}
