"""One word for one concept: a research project (or a campaign's world documents) is a
`Project`, and every foreign key to it is `project`. Constraints and indexes that name the
renamed field are dropped before the rename and made again after it (same names, or the
new word in them); the data is untouched."""

from django.conf import settings
from django.db import migrations, models

RENAMED_FKS = ["document", "thread", "studytag", "comparison", "digest", "studyjob", "flashcard", "timelineevent", "projectshare"]


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("research", "0006_collection_shares"),
        # Models that point at Collection are created before it is renamed.
        ("stories", "0001_initial"),
    ]

    operations = [
        migrations.RenameModel("Collection", "Project"),
        migrations.RenameModel("CollectionShare", "ProjectShare"),
        migrations.RemoveConstraint("document", "unique_document_per_collection"),
        migrations.RemoveConstraint("studytag", "unique_study_tag"),
        migrations.RemoveIndex("studyjob", "study_job_kind"),
        migrations.RemoveIndex("flashcard", "flashcard_due"),
        migrations.RemoveConstraint("projectshare", "collection_share_user_xor_group"),
        migrations.RemoveConstraint("projectshare", "collection_share_role_valid"),
        migrations.RemoveConstraint("projectshare", "unique_collection_share_user"),
        migrations.RemoveConstraint("projectshare", "unique_collection_share_group"),
        *(migrations.RenameField(model, "collection", "project") for model in RENAMED_FKS),
        migrations.AlterField(
            model_name="project",
            name="owner",
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="projects", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="projectshare",
            name="user",
            field=models.ForeignKey(blank=True, null=True, on_delete=models.deletion.CASCADE, related_name="project_shares", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="projectshare",
            name="group",
            field=models.ForeignKey(blank=True, null=True, on_delete=models.deletion.CASCADE, related_name="project_shares", to="auth.group"),
        ),
        migrations.AddConstraint(
            model_name="document",
            constraint=models.UniqueConstraint(fields=("project", "content_hash"), name="unique_document_per_project"),
        ),
        migrations.AddConstraint(
            model_name="studytag",
            constraint=models.UniqueConstraint(fields=("project", "name"), name="unique_study_tag"),
        ),
        migrations.AddIndex(
            model_name="studyjob",
            index=models.Index(fields=["project", "kind", "status"], name="study_job_kind"),
        ),
        migrations.AddIndex(
            model_name="flashcard",
            index=models.Index(fields=["project", "dismissed", "due"], name="flashcard_due"),
        ),
        migrations.AddConstraint(
            model_name="projectshare",
            constraint=models.CheckConstraint(
                condition=models.Q(models.Q(("group__isnull", True), ("user__isnull", False)), models.Q(("group__isnull", False), ("user__isnull", True)), _connector="OR"),
                name="project_share_user_xor_group",
            ),
        ),
        migrations.AddConstraint(
            model_name="projectshare",
            constraint=models.CheckConstraint(condition=models.Q(("role__in", ["viewer", "editor"])), name="project_share_role_valid"),
        ),
        migrations.AddConstraint(
            model_name="projectshare",
            constraint=models.UniqueConstraint(condition=models.Q(("user__isnull", False)), fields=("project", "user"), name="unique_project_share_user"),
        ),
        migrations.AddConstraint(
            model_name="projectshare",
            constraint=models.UniqueConstraint(condition=models.Q(("group__isnull", False)), fields=("project", "group"), name="unique_project_share_group"),
        ),
    ]
