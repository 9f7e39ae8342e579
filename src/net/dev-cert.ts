import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/**
 * A self-signed certificate for localhost / 127.0.0.1 / ::1 under `<dataDir>/tls/`, generated once
 * and reused on later starts (so a browser exception stays valid). Development only.
 */
export async function ensureDevCertificate(dataDir: string): Promise<TlsFiles> {
  const dir = join(dataDir, 'tls');
  const files = { certFile: join(dir, 'dev-cert.pem'), keyFile: join(dir, 'dev-key.pem') };
  if (existsSync(files.certFile) && existsSync(files.keyFile)) return files;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  await writeFile(files.keyFile, pems.private, { mode: 0o600 });
  await writeFile(files.certFile, pems.cert, { mode: 0o644 });
  return files;
}

export async function readTlsFiles(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
  return { cert, key };
}
