"""A QUIC echo server and client on aioquic, for samples/make-udp-samples.sh.

    python3 samples/quic_peer.py server HOST PORT CERT KEY SECONDS
    python3 samples/quic_peer.py client HOST PORT CA SERVER_NAME MESSAGE

The server answers each stream with its data upper-cased; the client sends MESSAGE on one
stream, checks the answer and closes the connection.
"""
import asyncio
import sys

from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived

ALPN = ["mtlscan-echo"]


class Echo(QuicConnectionProtocol):
    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self._quic.send_stream_data(event.stream_id, event.data.upper(), end_stream=event.end_stream)
            self.transmit()


async def server(host, port, cert, key, seconds):
    config = QuicConfiguration(is_client=False, alpn_protocols=ALPN)
    config.load_cert_chain(cert, key)
    await serve(host, int(port), configuration=config, create_protocol=Echo)
    await asyncio.sleep(float(seconds))


async def client(host, port, ca, server_name, message):
    config = QuicConfiguration(is_client=True, alpn_protocols=ALPN, server_name=server_name)
    config.load_verify_locations(ca)
    async with connect(host, int(port), configuration=config) as conn:
        reader, writer = await conn.create_stream()
        writer.write(message.encode())
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer == message.upper().encode(), answer


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    asyncio.run(server(*args) if role == "server" else client(*args))
