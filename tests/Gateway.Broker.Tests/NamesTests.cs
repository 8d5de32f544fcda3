namespace Gateway.Broker.Tests;

public class NamesTests
{
    [Theory]
    [InlineData("orders")]
    [InlineData("a.b-c_d:e")]
    [InlineData("café ✓ 日本")]
    [InlineData("emoji 😀")]
    [InlineData("with space")]
    public void Ordinary_unicode_names_are_valid(string name)
    {
        Assert.Null(Names.Validate(name));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("tab\there")]
    [InlineData("nul\0")]
    [InlineData("del\u007f")]
    [InlineData("c1\u0085")]
    public void Invalid_names_are_refused_with_a_reason(string? name)
    {
        Assert.NotNull(Names.Validate(name));
    }

    [Fact]
    public void Names_with_unpaired_surrogates_are_refused()
    {
        // Built in code: xunit's theory data serialization would replace lone surrogates with U+FFFD.
        Assert.NotNull(Names.Validate("lone" + (char)0xD800 + "surrogate"));
        Assert.NotNull(Names.Validate(((char)0xDC00).ToString()));
        Assert.NotNull(Names.Validate("end" + (char)0xD83D));
        Assert.Null(Names.Validate("pair" + (char)0xD83D + (char)0xDE00));
    }

    [Fact]
    public void Names_may_be_up_to_255_bytes_of_utf8()
    {
        Assert.Null(Names.Validate(new string('a', 255)));
        Assert.NotNull(Names.Validate(new string('a', 256)));
        // 'é' is two bytes: 128 of them are 256 bytes although only 128 characters.
        Assert.NotNull(Names.Validate(new string('é', 128)));
        Assert.Null(Names.Validate(new string('é', 127)));
    }

    [Fact]
    public void Routing_keys_may_be_empty_or_missing()
    {
        Assert.Null(Names.ValidateRoutingKey(""));
        Assert.Null(Names.ValidateRoutingKey(null));
        Assert.Null(Names.ValidateRoutingKey("a/b.c"));
    }

    [Fact]
    public void Routing_keys_are_limited_to_255_bytes_and_valid_unicode()
    {
        Assert.Null(Names.ValidateRoutingKey(new string('k', 255)));
        Assert.NotNull(Names.ValidateRoutingKey(new string('k', 256)));
        Assert.NotNull(Names.ValidateRoutingKey("bad" + (char)0xD800));
    }
}
