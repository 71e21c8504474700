// The control catalog, as data, from reference/controls.md. Checks declare which kind of evidence they produce
// (a category letter below); the controls they may claim are derived from this table, so no check can claim an
// id the catalog does not grant it, and every caveat travels with the id into every report.

/**
 * Categories of checks, as in controls.md:
 * a plaintext refused · b unauthorized identity denied, authorized allowed · c workload certificates ·
 * d circuit breaking and outlier detection · e egress to unregistered hosts · f ingress TLS ≥ 1.2 ·
 * g every attempt leaves an access-log record · h the access matrix: what each identity of the estate is granted by
 * policy, every non-grant proven refused by attack, grants compared with the declared intent.
 */
export type Category = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h';
const ALL: Category[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

export interface ControlEntry {
  id: string;
  framework: string;
  title: string;
  categories: Category[];
  /** Categories for which the check only supports the control: the framework does not literally require it. */
  supportOnly: Category[];
  caveat?: string;
}

const PCI = 'PCI DSS v4.0.1';
const SOC2 = 'SOC 2 TSC 2017';
const DORA = 'DORA (EU) 2022/2554';
const RTS = 'RTS (EU) 2024/1774';
const NIST = 'NIST SP 800-53 r5';
const FFIEC = 'FFIEC IT Handbook, Information Security 2016';
const NCUA = 'NCUA 12 CFR 748';

const SOC2_CAVEAT = 'Trust services criteria, not controls; meshproof output is information produced by the entity.';

function e(framework: string, id: string, title: string, categories: Category[], caveat?: string, supportOnly: Category[] = []): ControlEntry {
  return { id, framework, title, categories, supportOnly, ...(caveat ? { caveat } : {}) };
}

export const CATALOG: readonly ControlEntry[] = [
  e(PCI, 'PCI-DSS-4.0.1:4.2.1', 'Strong cryptography for PAN over open, public networks', ['a', 'f'], 'Public networks only; it does not require in-mesh mTLS, which only supports it. Ingress evidence (EDGE-*) is about the edge that was attacked: the production edge only when --edge names it, otherwise the run\'s own gateway (the mesh\'s gateway mechanism).', ['a']),
  e(PCI, 'PCI-DSS-4.0.1:4.2.1.1', 'Inventory of trusted keys and certificates', ['c'], 'meshproof output feeds the inventory; it is not the inventory.'),
  e(PCI, 'PCI-DSS-4.0.1:12.3.3', 'Cipher suites and protocols reviewed at least yearly', ['a', 'f'], 'Input to the review.', ['a', 'f']),
  e(PCI, 'PCI-DSS-4.0.1:1.3.1', 'Inbound CDE traffic restricted', ['b', 'e'], 'Only where the mesh is a documented network security control.'),
  e(PCI, 'PCI-DSS-4.0.1:1.3.2', 'Outbound CDE traffic restricted', ['b', 'e'], 'Only where the mesh is a documented network security control.'),
  e(PCI, 'PCI-DSS-4.0.1:1.4.1', 'Controls between trusted and untrusted networks', ['e', 'f']),
  e(PCI, 'PCI-DSS-4.0.1:1.4.2', 'Inbound traffic from untrusted networks restricted', ['e', 'f']),
  e(PCI, 'PCI-DSS-4.0.1:7.2.5', 'Least privilege for application and system accounts', ['b'], 'Treating workload identity as a "system account" is an interpretation.'),
  e(PCI, 'PCI-DSS-4.0.1:7.2.5.1', 'Access by application and system accounts reviewed periodically', ['h'], 'Input to the entity\'s review, not the review itself; treating workload identity as a "system account" is an interpretation.'),
  e(PCI, 'PCI-DSS-4.0.1:10.2.1.4', 'Invalid logical access attempts are logged', ['g']),
  e(PCI, 'PCI-DSS-4.0.1:10.2.2', 'Audit logs record the required details', ['g']),
  e(PCI, 'PCI-DSS-4.0.1:11.4.5', 'Segmentation controls penetration-tested', ['a', 'b', 'e'], 'Supporting only: meshproof is not the qualified, independent penetration test.', ['a', 'b', 'e']),
  e(SOC2, 'SOC2:CC6.1', 'Logical access security', ['a', 'b', 'c', 'h'], SOC2_CAVEAT),
  e(SOC2, 'SOC2:CC6.3', 'Access removed or modified per least privilege (role-based)', ['h'], `${SOC2_CAVEAT} Supports: the matrix shows current grants, it does not approve them.`, ['h']),
  e(SOC2, 'SOC2:CC6.6', 'Threats from outside system boundaries', ['e', 'f'], SOC2_CAVEAT),
  e(SOC2, 'SOC2:CC6.7', 'Transmission of information restricted and protected', ['a', 'e', 'f'], SOC2_CAVEAT),
  e(SOC2, 'SOC2:CC7.1', 'Detection of configuration changes that introduce vulnerabilities', ALL, `${SOC2_CAVEAT} Applies as drift and regression detection across runs.`),
  e(SOC2, 'SOC2:CC7.2', 'Monitoring for anomalies', ['d', 'g'], SOC2_CAVEAT),
  e(SOC2, 'SOC2:A1.1', 'Capacity maintained and monitored', ['d'], 'Partial.', ['d']),
  e(DORA, 'DORA:Art.9', 'Protection and prevention (9(2) data in transit; 9(3)(a); 9(4)(b)(c)(d))', ['a', 'b', 'c', 'd', 'e']),
  e(DORA, 'DORA:Art.10', 'Detection of anomalous activity', ['d', 'g']),
  e(DORA, 'DORA:Art.25', 'Testing of ICT tools and systems', ALL),
  e(RTS, 'RTS-2024/1774:Art.6', 'Encryption, including internal network connections', ['a', 'f'], 'Per data classification and ICT risk assessment.'),
  e(RTS, 'RTS-2024/1774:Art.7', 'Key and certificate lifecycle, register, renewal before expiry', ['c']),
  e(RTS, 'RTS-2024/1774:Art.9', 'Capacity and performance management', ['d']),
  e(RTS, 'RTS-2024/1774:Art.12', 'Logging of access and network events', ['g']),
  e(RTS, 'RTS-2024/1774:Art.13', 'Network security, segmentation, encrypted connections', ['a', 'b', 'e']),
  e(RTS, 'RTS-2024/1774:Art.14', 'Information in transit; procedures to assess compliance', ['a', 'f']),
  e(RTS, 'RTS-2024/1774:Art.21', 'Access control, least privilege', ['b', 'h']),
  e(NIST, 'NIST-800-53r5:SC-8', 'Transmission confidentiality and integrity', ['a', 'f']),
  e(NIST, 'NIST-800-53r5:SC-8(1)', 'Cryptographic protection in transmission', ['a', 'f']),
  e(NIST, 'NIST-800-53r5:SC-23', 'Session authenticity', ['a', 'b', 'c']),
  e(NIST, 'NIST-800-53r5:IA-9', 'Service identification and authentication', ['a', 'b', 'c'], 'IA-9 is in no baseline: tailored in.'),
  e(NIST, 'NIST-800-53r5:IA-5(2)', 'PKI-based authentication', ['c']),
  e(NIST, 'NIST-800-53r5:SC-12', 'Cryptographic key establishment and management', ['c']),
  e(NIST, 'NIST-800-53r5:SC-17', 'Public key infrastructure certificates', ['c'], 'Approved trust anchors only.'),
  e(NIST, 'NIST-800-53r5:AC-3', 'Access enforcement', ['b', 'h']),
  e(NIST, 'NIST-800-53r5:AC-4', 'Information flow enforcement', ['b', 'e', 'h']),
  e(NIST, 'NIST-800-53r5:AC-6', 'Least privilege', ['b', 'h']),
  e(NIST, 'NIST-800-53r5:AC-6(7)', 'Review of user privileges', ['h'], 'Input to the review.'),
  e(NIST, 'NIST-800-53r5:SC-7', 'Boundary protection', ['b', 'e', 'f']),
  e(NIST, 'NIST-800-53r5:SC-7(5)', 'Deny by default, allow by exception', ['b', 'e', 'f']),
  e(NIST, 'NIST-800-53r5:SC-5', 'Denial-of-service protection', ['d']),
  e(NIST, 'NIST-800-53r5:SC-6', 'Resource availability', ['d']),
  e(NIST, 'NIST-800-53r5:AU-2', 'Event logging', ['g']),
  e(NIST, 'NIST-800-53r5:AU-3', 'Content of audit records', ['g']),
  e(NIST, 'NIST-800-53r5:AU-12', 'Audit record generation', ['g']),
  e(NIST, 'NIST-800-53r5:SI-4', 'System monitoring', ['d', 'g']),
  e(NIST, 'NIST-800-53r5:CA-2', 'Control assessments', ALL),
  e(NIST, 'NIST-800-53r5:CA-7', 'Continuous monitoring', ALL),
  e(NIST, 'NIST-800-53r5:SI-6', 'Security and privacy function verification', ALL),
  e(FFIEC, 'FFIEC-IS:II.C.9', 'Network controls', ['a', 'b', 'e', 'f'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:II.C.15', 'Logical security', ['b'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:II.C.19', 'Encryption', ['a', 'c', 'f'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:II.C.21', 'Business continuity considerations', ['d'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:II.C.22', 'Log management', ['g'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:III.B', 'Security operations: monitoring', ['g'], 'Examiner guidance, not a control set.'),
  e(FFIEC, 'FFIEC-IS:IV.A', 'Assurance and testing', ALL, 'Examiner guidance, not a control set.'),
  e(NCUA, 'NCUA:12-CFR-748-App.A', 'Member information security program', ['a'], 'Weak: guidance, not a mandate.', ['a']),
];

/** Never cite these (controls.md "Do not cite"): a check claiming one is a defect. */
export const FORBIDDEN = ['PCI-DSS-4.0.1:3.6', 'PCI-DSS-4.0.1:3.7', 'SOC2:CC6.8', 'NIST-800-53r5:CA-8', 'FFIEC:CAT'];

export function controlsFor(categories: Category[]): string[] {
  return CATALOG.filter((c) => c.categories.some((k) => categories.includes(k))).map((c) => c.id);
}

export interface Claim {
  id: string;
  relation: 'addresses' | 'supports';
}

/** The claims a check of these categories makes: `supports` when every category is support-only for the entry. */
export function claimsFor(categories: Category[]): Claim[] {
  return CATALOG.filter((c) => c.categories.some((k) => categories.includes(k))).map((c) => ({
    id: c.id,
    relation: categories.filter((k) => c.categories.includes(k)).every((k) => c.supportOnly.includes(k)) ? 'supports' : 'addresses',
  }));
}

export function controlEntry(id: string): ControlEntry | undefined {
  return CATALOG.find((c) => c.id === id);
}
