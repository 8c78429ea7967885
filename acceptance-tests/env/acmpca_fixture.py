"""ACM Private CA fixtures for acceptance scenarios, through boto3 against moto.

  acmpca_fixture.py create-root COMMON_NAME   an ACTIVE root CA made outside meshtls; prints its ARN
  acmpca_fixture.py disable ARN               disables it out of band
  acmpca_fixture.py status ARN                prints its status
  acmpca_fixture.py live COMMON_NAME          prints the ARNs of CAs of that subject not deleted
"""
import sys
import time

import boto3

pca = boto3.client("acm-pca")


def wait(call, **kwargs):
    deadline = time.monotonic() + 60
    while True:
        try:
            return call(**kwargs)
        except pca.exceptions.RequestInProgressException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main():
    cmd, arg = sys.argv[1:3]
    if cmd == "create-root":
        arn = pca.create_certificate_authority(
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": "RSA_2048",
                "SigningAlgorithm": "SHA256WITHRSA",
                "Subject": {"CommonName": arg, "Organization": "Acceptance"},
            },
            CertificateAuthorityType="ROOT",
        )["CertificateAuthorityArn"]
        csr = wait(pca.get_certificate_authority_csr, CertificateAuthorityArn=arn)["Csr"]
        cert_arn = pca.issue_certificate(
            CertificateAuthorityArn=arn,
            Csr=csr.encode(),
            SigningAlgorithm="SHA256WITHRSA",
            TemplateArn="arn:aws:acm-pca:::template/RootCACertificate/V1",
            Validity={"Value": 365, "Type": "DAYS"},
        )["CertificateArn"]
        cert = wait(pca.get_certificate, CertificateAuthorityArn=arn, CertificateArn=cert_arn)["Certificate"]
        pca.import_certificate_authority_certificate(CertificateAuthorityArn=arn, Certificate=cert.encode())
        print(arn)
    elif cmd == "disable":
        pca.update_certificate_authority(CertificateAuthorityArn=arg, Status="DISABLED")
    elif cmd == "live":
        for ca in pca.list_certificate_authorities()["CertificateAuthorities"]:
            subject = ca.get("CertificateAuthorityConfiguration", {}).get("Subject", {})
            if subject.get("CommonName") == arg and ca.get("Status") != "DELETED":
                print(ca["Arn"])
    elif cmd == "status":
        print(pca.describe_certificate_authority(CertificateAuthorityArn=arg)["CertificateAuthority"]["Status"])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
