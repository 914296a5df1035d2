// EXOTEL_ALLOWED_CIDRS: the networks Exotel's requests may come from (Exotel gives its ranges on request,
// reference §7). Checked against the client address Fastify derives, which honours TRUST_PROXY.
import { BlockList, isIP } from 'node:net';

export function allowedNetworks(cidrs: string[] | undefined): ((ip: string) => boolean) | undefined {
  if (!cidrs || cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/') as [string, string];
    list.addSubnet(address, Number(bits), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  return (ip: string) => {
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}
