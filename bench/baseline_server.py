"""A bare MCPServer with one tool: the baseline our start-up is measured against."""

from mcp.server import MCPServer

server = MCPServer("baseline")


@server.tool()
def echo(text: str) -> str:
    """Echo the text."""
    return text


if __name__ == "__main__":
    server.run()
